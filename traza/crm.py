"""The CRM lookup over HTTP (the ``CustomerLookup`` port): one GET with a bearer token and a short
timeout, its JSON answer turned into facts by the configured dotted paths.

Every failure becomes a ``RemoteError`` whose message is the short reason the card shows ("timed out
after 2 s", "HTTP 500", "the answer was not JSON"); a 404 means the CRM has no record (not a failure).
The token is sent, never logged; the URL is not logged either (it carries the customer's phone).
"""

from __future__ import annotations

import httpx
import orjson

from bridge.enrichment import LookupSubject, extract_facts, lookup_url
from bridge.errors import PermanentRemoteError, TransientRemoteError
from bridge.integrations import Enrichment


class HttpCustomerLookup:
    def __init__(
        self, config: Enrichment, token: str | None, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        headers = {"Accept": "application/json", "User-Agent": "Traza-Enrichment/1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.AsyncClient(
            timeout=config.timeout_seconds, headers=headers, trust_env=False, transport=transport
        )

    async def lookup(self, subject: LookupSubject) -> dict[str, str] | None:
        url = lookup_url(self.config.url, subject)
        if url is None:
            raise PermanentRemoteError("crm", "no_phone", "the customer's phone number is not known")
        try:
            response = await self.client.get(url)
        except httpx.TimeoutException as exc:
            raise TransientRemoteError(
                "crm", "timeout", f"timed out after {self.config.timeout_seconds:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise TransientRemoteError(
                "crm", "unreachable", f"could not connect ({type(exc).__name__})"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 300:
            raise TransientRemoteError("crm", response.status_code, f"HTTP {response.status_code}")
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise PermanentRemoteError("crm", "not_json", "the answer was not JSON") from exc
        return extract_facts(document, self.config.fields)

    async def aclose(self) -> None:
        await self.client.aclose()
