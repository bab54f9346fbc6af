"""The Graph API client: send messages, upload and download media, list templates.

One ``httpx.AsyncClient`` with timeouts on every call; every failure becomes a typed error of the
bridge's tree (``graph_error``), connection problems and timeouts a ``TransientRemoteError``. The
client never retries by itself: the job queue owns retries and their backoff.
"""

from __future__ import annotations

from typing import Any

import httpx

from bridge.errors import PermanentRemoteError, TransientRemoteError
from bridge.ports import MediaFile
from bridge.whatsapp.errors import graph_error

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
AMBIGUOUS_RETRY = 60.0


class GraphClient:
    def __init__(
        self, base_url: str, token: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.http = httpx.AsyncClient(
            timeout=TIMEOUT,
            transport=transport,
            headers={"Authorization": f"Bearer {token}"},
            follow_redirects=True,
            trust_env=False,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, url, **kwargs)
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientRemoteError("whatsapp", "timeout", str(exc) or "connect timed out") from exc
        except httpx.ConnectError as exc:
            raise TransientRemoteError("whatsapp", "connection", str(exc) or "connection refused") from exc
        except httpx.TimeoutException as exc:
            # The request may have reached Meta: wait long enough for a status webhook to name it
            # (biz_opaque_callback_data) before trying again, so a send is not duplicated.
            raise TransientRemoteError(
                "whatsapp", "timeout", str(exc) or "timed out", retry_after=AMBIGUOUS_RETRY, in_doubt=True
            ) from exc
        except httpx.HTTPError as exc:
            # Sent, then the connection broke before an answer was read: as ambiguous as a timeout.
            raise TransientRemoteError(
                "whatsapp",
                "connection",
                str(exc) or "connection lost",
                retry_after=AMBIGUOUS_RETRY,
                in_doubt=True,
            ) from exc
        if response.status_code >= 400:
            raise _error_of(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._request(method, f"{self.base_url}/{path.lstrip('/')}", **kwargs)
        try:
            data = response.json()
        except ValueError as exc:
            raise TransientRemoteError(
                "whatsapp", "bad_response", "the Graph API answered non-JSON", in_doubt=True
            ) from exc
        if not isinstance(data, dict):
            raise TransientRemoteError(
                "whatsapp", "bad_response", "the Graph API answered a non-object", in_doubt=True
            )
        return data

    async def fetch(self, media_id: str, fallback_name: str) -> MediaFile:
        """Resolve a media id to its short-lived URL and download it with the bearer token."""
        info = await self._json("GET", media_id)
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentRemoteError("whatsapp", "no_media_url", f"media {media_id} has no download URL")
        response = await self._request("GET", url)
        mime = str(
            info.get("mime_type") or response.headers.get("content-type") or "application/octet-stream"
        )
        return MediaFile(response.content, mime, fallback_name)

    async def send(self, phone_number_id: str, body: dict[str, Any]) -> str:
        """POST one message; returns the wamid Meta accepted it under."""
        data = await self._json("POST", f"{phone_number_id}/messages", json=body)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(messages[0], dict):
            raise TransientRemoteError(
                "whatsapp", "bad_response", "send answered without a message id", in_doubt=True
            )
        return str(messages[0].get("id"))

    async def upload(self, phone_number_id: str, file: MediaFile) -> str:
        data = await self._json(
            "POST",
            f"{phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": file.mime_type},
            files={"file": (file.filename, file.data, file.mime_type)},
        )
        return str(data["id"])

    async def templates(self, account_id: str) -> list[dict[str, object]]:
        data = await self._json("GET", f"{account_id}/message_templates", params={"limit": 100})
        items = data.get("data", [])
        return [t for t in items if isinstance(t, dict)] if isinstance(items, list) else []

    async def mark_read(self, phone_number_id: str, wa_message_id: str) -> None:
        await self._json(
            "POST",
            f"{phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": wa_message_id},
        )


def _error_of(response: httpx.Response) -> Exception:
    retry_after: float | None = None
    if header := response.headers.get("retry-after"):
        try:
            retry_after = float(header)
        except ValueError:
            retry_after = None
    try:
        envelope = response.json().get("error", {})
    except (ValueError, AttributeError):
        envelope = {}
    if not isinstance(envelope, dict) or "code" not in envelope:
        if response.status_code >= 500 or response.status_code == 429:
            return TransientRemoteError(
                "whatsapp", f"http_{response.status_code}", "server error", retry_after=retry_after
            )
        return PermanentRemoteError("whatsapp", f"http_{response.status_code}", response.text[:200])
    try:
        code = int(str(envelope.get("code")))
    except (TypeError, ValueError):
        code = -1
    details = (
        envelope.get("error_data", {}).get("details", "")
        if isinstance(envelope.get("error_data"), dict)
        else ""
    )
    return graph_error(
        code, str(envelope.get("message", "")), str(details), response.status_code, retry_after
    )
