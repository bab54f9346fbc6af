"""The ``webhooks`` and ``enrichment`` sections of ``traza.yml``: where programs outside Slack are told
about events, and where a new conversation's customer is looked up.

Secrets never live in the YAML: an endpoint names the environment variable holding its signing
secret (``secret_env``) and the lookup names the one holding its bearer token (``token_env``);
``traza.settings`` reads them. Problems are reported like the rest of the file, one line per key path
(``webhooks[0].url: must start with http:// or https://``).

Field paths (``enrichment.fields``) are dotted paths into the CRM's JSON answer: ``account.name``,
``owners.0.email`` (a number indexes a list); a leading ``$.`` is accepted and ignored, so
``$.account.name`` reads the same.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.domain import EventType

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
_ENDPOINT_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")
_FACT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LOOKUP_PLACEHOLDERS = frozenset({"phone", "wa_id", "ref", "team"})
DEFAULT_MAX_AGE_DAYS = 3.0


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """One receiver of the event stream. ``id`` names its cursor (keep it stable across URL changes)
    and labels its logs and metrics; it defaults to the URL's host."""

    id: str
    url: str
    secret_env: str
    events: frozenset[str] | None = None
    """Event types to send; ``None`` sends every type."""
    teams: frozenset[str] | None = None
    """Only events of these teams; ``None`` sends events of every team and those of none."""
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    backfill: bool = False
    """First start: send the whole history (``True``) or only events from now on."""

    def wants(self, event_type: str, team_id: str | None) -> bool:
        if self.events is not None and event_type not in self.events:
            return False
        return self.teams is None or (team_id is not None and team_id in self.teams)


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The CRM lookup run when a conversation opens; ``fields`` maps a fact name to a dotted path."""

    url: str
    fields: tuple[tuple[str, str], ...]
    token_env: str | None = None
    timeout_seconds: float = 2.0


Fail = Callable[[str, str], None]


def load_webhooks(raw: object, fail: Fail) -> tuple[WebhookEndpoint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        fail("webhooks", "must be a list of endpoints (url, secret_env, events, teams)")
        return ()
    endpoints: list[WebhookEndpoint] = []
    for i, item in enumerate(raw):
        path = f"webhooks[{i}]"
        if not isinstance(item, Mapping):
            fail(path, "must be a mapping with url and secret_env")
            continue
        endpoint = _endpoint(item, path, fail)
        if endpoint is None:
            continue
        if any(e.id == endpoint.id for e in endpoints):
            fail(f"{path}.id", f"duplicate webhook id {endpoint.id!r} (give each endpoint its own id)")
            continue
        endpoints.append(endpoint)
    return tuple(endpoints)


def _endpoint(item: Mapping[str, Any], path: str, fail: Fail) -> WebhookEndpoint | None:
    url = _url(item.get("url"), f"{path}.url", fail)
    secret_env = _env_name(item.get("secret_env"), f"{path}.secret_env", fail, required=True)
    raw_id = item.get("id")
    endpoint_id = str(raw_id) if raw_id is not None else _id_from_url(url or "")
    if raw_id is not None and not _ENDPOINT_ID.match(endpoint_id):
        fail(f"{path}.id", "must be lowercase letters, digits, '.', '-' or '_' (max 60)")
    events = _event_filter(item.get("events", "all"), f"{path}.events", fail)
    teams = _team_filter(item.get("teams"), f"{path}.teams", fail)
    max_age = item.get("max_age_days", DEFAULT_MAX_AGE_DAYS)
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or not 0 < max_age <= 60:
        fail(f"{path}.max_age_days", "must be a number of days between 0 and 60")
        max_age = DEFAULT_MAX_AGE_DAYS
    backfill = item.get("backfill", False)
    if not isinstance(backfill, bool):
        fail(f"{path}.backfill", "must be true or false")
        backfill = False
    if url is None or secret_env is None:
        return None
    return WebhookEndpoint(endpoint_id, url, secret_env, events, teams, float(max_age), backfill)


def _id_from_url(url: str) -> str:
    """The host only: a path may carry a token, and the id shows in logs and metrics."""
    host = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].lower()
    cleaned = re.sub(r"[^a-z0-9_.-]+", "-", host).strip("-.")
    return (cleaned or "endpoint")[:60]


def _event_filter(raw: object, path: str, fail: Fail) -> frozenset[str] | None:
    if raw == "all" or raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        fail(path, "must be `all` or a list of event types like ConversationClaimed")
        return None
    known = {str(t) for t in EventType}
    if unknown := sorted(set(raw) - known):
        fail(path, f"unknown event type(s) {unknown}")
    return frozenset(raw)


def _team_filter(raw: object, path: str, fail: Fail) -> frozenset[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw) or not raw:
        fail(path, "must be a non-empty list of team ids")
        return None
    return frozenset(raw)


def load_enrichment(raw: object, fail: Fail) -> Enrichment | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        fail("enrichment", "must be a mapping with url and fields")
        return None
    url = _url(raw.get("url"), "enrichment.url", fail)
    if url is not None:
        names = {name for _, name, _, _ in string.Formatter().parse(url) if name is not None}
        if unknown := names - LOOKUP_PLACEHOLDERS:
            fail(
                "enrichment.url",
                f"unknown placeholder(s) {sorted(unknown)}; use {{phone}}, {{wa_id}}, {{ref}}",
            )
    token_env = _env_name(raw.get("token_env"), "enrichment.token_env", fail, required=False)
    timeout = raw.get("timeout_seconds", 2.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 30:
        fail("enrichment.timeout_seconds", "must be a number of seconds between 0 and 30")
        timeout = 2.0
    fields = _fields(raw.get("fields"), fail)
    if url is None or not fields:
        return None
    return Enrichment(url, fields, token_env, float(timeout))


def _fields(raw: object, fail: Fail) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping) or not raw:
        fail(
            "enrichment.fields", "required: a mapping of fact name to dotted path, e.g. account: account.name"
        )
        return ()
    fields: list[tuple[str, str]] = []
    for name, value in raw.items():
        if not isinstance(name, str) or not _FACT_NAME.match(name):
            fail(f"enrichment.fields.{name}", "fact names are lowercase letters, digits and '_'")
            continue
        if not isinstance(value, str) or not field_path(value):
            fail(f"enrichment.fields.{name}", "must be a dotted path like account.name or $.account.name")
            continue
        fields.append((name, value))
    return tuple(fields)


def field_path(path: str) -> tuple[str, ...]:
    """``$.account.name`` or ``account.name`` → ``("account", "name")``; ``()`` when malformed."""
    text = path.strip().removeprefix("$").removeprefix(".")
    parts = tuple(text.split(".")) if text else ()
    return parts if all(parts) else ()


def _url(raw: object, path: str, fail: Fail) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        fail(path, "required: the receiver's URL")
        return None
    if not raw.startswith(("http://", "https://")):
        fail(path, "must start with http:// or https://")
        return None
    return raw.strip()


def _env_name(raw: object, path: str, fail: Fail, *, required: bool) -> str | None:
    if raw is None:
        if required:
            fail(path, "required: the NAME of the environment variable holding the secret (never the secret)")
        return None
    if not isinstance(raw, str) or not _ENV_NAME.match(raw):
        fail(
            path,
            "must be an environment variable name like CRM_WEBHOOK_SECRET (the secret stays out of YAML)",
        )
        return None
    return raw
