"""The Slack implementation of the bridge's ``ChatSurface`` port, over slack_sdk's AsyncWebClient.

Every Slack failure is translated into the bridge's error tree: HTTP 429 (with ``Retry-After``) into
``RateLimited``, 5xx, timeouts and connection errors into ``TransientRemoteError``, and Slack's
``ok: false`` codes into ``PermanentRemoteError`` except the few that mean "try later". The client
itself never retries: the job queue owns retries, so a Retry-After never blocks a worker slot.

Exactly-once posting: Slack has no idempotency key, so every post carries message metadata naming
what it mirrors (``traza_card``/``traza_inbound`` with the ref or link id). A job that may have posted
before a crash looks for that metadata first (``find_card``/``find_mirrored``) instead of posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import aiohttp
import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cards import card_message
from bot.presence import PresenceCache
from bot.render import customer_username, render_coalesced, render_inbound
from bridge.contacts import display_phone
from bridge.domain import ConversationView, SlackTs
from bridge.errors import PermanentRemoteError, RateLimited, TransientRemoteError
from bridge.ports import InboundToMirror, MediaFile

log = logging.getLogger("traza.slack")
TRANSIENT_CODES = frozenset(
    {
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "ratelimited",
        "team_not_ready",
    }
)
INBOUND_EVENT = "traza_inbound"
CARD_EVENT = "traza_card"


def make_client(token: str, base_url: str, timeout: int = 10) -> AsyncWebClient:
    # No retry handlers: retries belong to the job queue (see the module docstring). One shared
    # aiohttp session keeps connections to Slack alive instead of opening one per call.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False)
    return AsyncWebClient(
        token=token, base_url=base_url, timeout=timeout, retry_handlers=[], proxy=None, session=session
    )


async def slack_call(call: Awaitable[Any]) -> Any:
    """Run one Web API call, translating every failure into the bridge's error tree."""
    try:
        return await call
    except SlackApiError as exc:
        status = exc.response.status_code
        code = str(exc.response.get("error", "unknown_error")) if exc.response.data else f"http_{status}"
        if status == 429 or code == "ratelimited":
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
            raise RateLimited("slack", code, "rate limited", retry_after=_seconds(retry)) from exc
        if status >= 500 or code in TRANSIENT_CODES:
            raise TransientRemoteError("slack", code, f"HTTP {status}") from exc
        needed = exc.response.get("needed") if exc.response.data else None
        raise PermanentRemoteError("slack", code, details=f"needed scope {needed}" if needed else "") from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise TransientRemoteError("slack", type(exc).__name__, str(exc) or "connection failed") from exc


def _seconds(value: Any) -> float:
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        return 1.0


class SlackSurface:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}
        self._presence = PresenceCache(client)

    async def is_away(self, user: str) -> bool:
        return await self._presence.is_away(user)

    async def post_card(self, view: ConversationView, now: datetime) -> SlackTs:
        card = card_message(view, now)
        response = await self._post(
            view.slack_channel, text=card["text"], blocks=card["blocks"], metadata=card["metadata"]
        )
        return SlackTs(str(response["ts"]))

    async def find_card(self, view: ConversationView) -> SlackTs | None:
        try:
            response = await slack_call(
                # The newest messages of the channel: a card lost to a crash was posted moments ago.
                # (No ``oldest`` bound: message ts values are Slack's clock, not ours.)
                self.client.conversations_history(
                    channel=view.slack_channel, limit=200, include_all_metadata=True
                )
            )
        except PermanentRemoteError as exc:
            # Without history we cannot tell; posting again beats losing the card.
            log.warning("could not look for an earlier card in %s: %s", view.slack_channel, exc)
            return None
        for message in response.get("messages", []):
            meta = message.get("metadata") or {}
            if (
                meta.get("event_type") == CARD_EVENT
                and (meta.get("event_payload") or {}).get("ref") == view.ref
            ):
                return SlackTs(str(message["ts"]))
        return None

    async def update_card(self, view: ConversationView, now: datetime) -> None:
        thread = view.slack_thread_ts
        if thread is None:
            return
        card = card_message(view, now)
        await slack_call(
            self.client.chat_update(
                channel=view.slack_channel,
                ts=thread,
                text=card["text"],
                blocks=card["blocks"],
                metadata=card["metadata"],
            )
        )

    async def post_customer_message(self, item: InboundToMirror) -> SlackTs:
        view = item.view
        assert view.slack_thread_ts is not None, "the card is posted before any message"
        rendered = render_inbound(item.message)
        username = customer_username(
            item.message.sender.profile_name or view.contact_name,
            display_phone(item.message.sender.wa_id) or view.contact_display,
            item.message.sender.username,
        )
        text = rendered.text
        if item.target_ts is not None:
            text += (
                f"\n<{await self.permalink(view.slack_channel, item.target_ts)}|↪ the message it refers to>"
            )
        metadata = {
            "event_type": INBOUND_EVENT,
            "event_payload": {
                "ref": view.ref,
                "link_id": item.link_id,
                "wa_message_id": item.message.wa_message_id,
            },
        }
        response = await self._post(
            view.slack_channel,
            text=text,
            thread_ts=view.slack_thread_ts,
            username=username,
            metadata=metadata,
        )
        return SlackTs(str(response["ts"]))

    async def post_customer_messages(self, items: list[InboundToMirror]) -> SlackTs:
        """Several queued messages of one conversation as one post (coalesced behind the pace).
        The metadata names every part, and the first part's ``link_id`` as a single post would,
        so ``find_mirrored`` of the first finds the post after a crash."""
        first = items[0]
        view = first.view
        assert view.slack_thread_ts is not None, "the card is posted before any message"
        username = customer_username(
            first.message.sender.profile_name or view.contact_name,
            display_phone(first.message.sender.wa_id) or view.contact_display,
            first.message.sender.username,
        )
        metadata = {
            "event_type": INBOUND_EVENT,
            "event_payload": {
                "ref": view.ref,
                "link_id": first.link_id,
                "link_ids": [i.link_id for i in items],
                "wa_message_ids": [i.message.wa_message_id for i in items],
            },
        }
        response = await self._post(
            view.slack_channel,
            text=render_coalesced([i.message for i in items]),
            thread_ts=view.slack_thread_ts,
            username=username,
            metadata=metadata,
        )
        return SlackTs(str(response["ts"]))

    async def upload_file(self, view: ConversationView, file: MediaFile) -> None:
        await slack_call(
            self.client.files_upload_v2(
                channel=view.slack_channel,
                thread_ts=view.slack_thread_ts,
                content=file.data,
                filename=file.filename,
                title=file.filename,
            )
        )

    async def find_mirrored(self, view: ConversationView, link_id: int) -> SlackTs | None:
        thread = view.slack_thread_ts
        if thread is None:
            return None
        return await self._find_in_thread(view.slack_channel, thread, INBOUND_EVENT, "link_id", link_id)

    async def _find_in_thread(
        self, channel: str, thread: str, event_type: str, key: str, value: object
    ) -> SlackTs | None:
        """The reply in ``thread`` whose metadata says it carries ``key == value``."""
        cursor: str | None = None
        for _ in range(20):
            try:
                response = await slack_call(
                    self.client.conversations_replies(
                        channel=channel, ts=thread, include_all_metadata=True, limit=200, cursor=cursor
                    )
                )
            except PermanentRemoteError as exc:
                log.warning("could not read thread %s in %s: %s", thread, channel, exc)
                return None  # posting again beats losing the message
            for message in response.get("messages", []):
                meta = message.get("metadata") or {}
                if (
                    meta.get("event_type") == event_type
                    and (meta.get("event_payload") or {}).get(key) == value
                ):
                    return SlackTs(str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    async def post_text(self, channel: str, thread_ts: str | None, text: str) -> SlackTs:
        kwargs: dict[str, Any] = {"text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        response = await self._post(channel, **kwargs)
        return SlackTs(str(response["ts"]))

    async def replace_card(self, channel: str, ts: str, text: str) -> None:
        blocks = [
            {"type": "section", "block_id": "conv_moved", "text": {"type": "mrkdwn", "text": text[:2900]}}
        ]
        await slack_call(self.client.chat_update(channel=channel, ts=ts, text=text[:2900], blocks=blocks))

    async def post_notice(self, view: ConversationView, text: str) -> SlackTs:
        response = await self._post(view.slack_channel, text=text, thread_ts=view.slack_thread_ts)
        return SlackTs(str(response["ts"]))

    async def close(self) -> None:
        if self.client.session is not None:
            await self.client.session.close()

    async def user_name(self, user_id: str) -> str:
        """The agent's Slack display name (cached), falling back to the real name, then the id."""
        if user_id in self._names:
            return self._names[user_id]
        try:
            response = await slack_call(self.client.users_info(user=user_id))
        except PermanentRemoteError:
            return user_id
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        name = str(
            profile.get("display_name")
            or profile.get("real_name")
            or user.get("real_name")
            or user.get("name")
            or user_id
        )
        self._names[user_id] = name
        return name

    async def download(self, url: str, filename: str, mimetype: str) -> MediaFile:
        """Fetch a file an agent shared (``url_private_download`` needs the bot token)."""
        token = self.client.token or ""
        try:
            async with httpx.AsyncClient(
                timeout=httpx.Timeout(30.0, connect=5.0), trust_env=False, follow_redirects=True
            ) as http:
                response = await http.get(url, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            raise TransientRemoteError("slack", "file_download", str(exc) or "download failed") from exc
        if response.status_code >= 500:
            raise TransientRemoteError("slack", f"http_{response.status_code}", "file download failed")
        if response.status_code >= 400 or "text/html" in response.headers.get("content-type", ""):
            raise PermanentRemoteError(
                "slack",
                "file_download",
                details=(
                    f"Slack did not hand over {filename} (HTTP {response.status_code}); "
                    "is the files:read scope granted?"
                ),
            )
        return MediaFile(response.content, mimetype or response.headers.get("content-type", ""), filename)

    async def react(self, channel: str, ts: str, name: str) -> None:
        try:
            await slack_call(self.client.reactions_add(channel=channel, timestamp=ts, name=name))
        except PermanentRemoteError as exc:
            # A mark is a courtesy: it never holds up the conversation's queue.
            if exc.code not in ("already_reacted", "message_not_found", "too_many_reactions"):
                log.warning("could not mark %s/%s with :%s: (%s)", channel, ts, name, exc.code)

    async def tell(self, channel: str, thread_ts: str | None, user: str, text: str) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await slack_call(self.client.chat_postEphemeral(**kwargs))
        except PermanentRemoteError as exc:
            if exc.code not in ("user_not_in_channel", "channel_not_found"):
                raise
            log.warning("could not tell %s privately (%s): %s", user, exc.code, text)

    async def publish_home(self, user: str, view: dict[str, object]) -> None:
        await slack_call(self.client.views_publish(user_id=user, view=view))

    async def permalink(self, channel: str, ts: str) -> str:
        try:
            response = await slack_call(self.client.chat_getPermalink(channel=channel, message_ts=ts))
            return str(response["permalink"])
        except PermanentRemoteError:
            return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"

    async def _post(self, channel: str, **kwargs: Any) -> Any:
        kwargs.setdefault("unfurl_links", False)
        kwargs.setdefault("unfurl_media", False)
        try:
            return await slack_call(self.client.chat_postMessage(channel=channel, **kwargs))
        except PermanentRemoteError as exc:
            if exc.code != "not_in_channel":
                raise
            log.info("joining %s to post there", channel)
            await slack_call(self.client.conversations_join(channel=channel))
            return await slack_call(self.client.chat_postMessage(channel=channel, **kwargs))
