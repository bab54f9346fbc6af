"""Customer enrichment: ask a CRM about the customer of a new conversation and keep what it says.

The use case ``enrich_customer`` runs as one job, on its own queue so it never holds up mirroring: it
asks the ``CustomerLookup`` port (an HTTP edge in ``traza.crm``) and records the outcome through the
``EnrichmentLedger`` port — ``CustomerEnriched`` with the facts, or ``CustomerEnrichmentFailed`` with
the reason — and the card then shows the facts, or "CRM lookup failed: <reason>". Facts are plain
``str → str`` (``account``, ``owner``, ``stage``…), the shape routing rules take.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from bridge.errors import RemoteError
from bridge.integrations import field_path

FACT_MAX = 200


@dataclass(frozen=True, slots=True)
class LookupSubject:
    """Who to look up: the conversation and what is known of its customer."""

    conversation_id: int
    ref: int
    contact_id: int
    wa_id: str | None
    team_id: str


class CustomerLookup(Protocol):
    async def lookup(self, subject: LookupSubject) -> dict[str, str] | None:
        """The customer's facts; ``None`` when the CRM has no record. Raises ``RemoteError`` on failure."""
        ...


class EnrichmentLedger(Protocol):
    async def subject(self, conversation_id: int) -> LookupSubject: ...

    async def enriched(self, subject: LookupSubject, facts: Mapping[str, str], found: bool) -> None:
        """Record the facts (an event and the conversation's facts), refresh the card, finish the job."""
        ...

    async def failed(self, subject: LookupSubject, reason: str) -> None:
        """Record the failure (an event), show it on the card, finish the job."""
        ...


async def enrich_customer(conversation_id: int, lookup: CustomerLookup, ledger: EnrichmentLedger) -> None:
    subject = await ledger.subject(conversation_id)
    try:
        facts = await lookup.lookup(subject)
    except RemoteError as exc:
        await ledger.failed(subject, exc.message or str(exc.code))
        return
    await ledger.enriched(subject, facts or {}, found=facts is not None)


def lookup_url(template: str, subject: LookupSubject) -> str | None:
    """The lookup URL for ``subject``; ``None`` when it needs a phone number the customer has not shared."""
    needs_phone = "{phone}" in template or "{wa_id}" in template
    if needs_phone and not subject.wa_id:
        return None
    wa_id = subject.wa_id or ""
    return template.format(
        phone=quote(f"+{wa_id}", safe=""),
        wa_id=quote(wa_id, safe=""),
        ref=subject.ref,
        team=quote(subject.team_id, safe=""),
    )


def extract_facts(document: object, fields: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """Apply the configured dotted paths; a path that finds nothing, or no scalar, gives no fact."""
    facts: dict[str, str] = {}
    for name, path in fields:
        value = path_value(document, field_path(path))
        if isinstance(value, bool):
            facts[name] = "yes" if value else "no"
        elif isinstance(value, (str, int, float)) and str(value).strip():
            facts[name] = str(value).strip()[:FACT_MAX]
    return facts


def path_value(document: object, parts: tuple[str, ...]) -> Any:
    current: Any = document
    for part in parts:
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current
