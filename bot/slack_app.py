"""The Bolt ``AsyncApp`` (HTTP mode) and its listeners, which turn Slack payloads into typed calls on
an ``InteractionHandler`` supplied by the composition root.

``process_before_response=True``: Slack gets its answer only after the listener has durably recorded
what it must (a reply in the outbox, a command's effect). A crash before that commit answers
nothing, so Slack redelivers and nothing is lost; a redelivery after it finds the event's id
already recorded and does nothing. Listeners only touch the database, so they answer well inside
Slack's 3 seconds; Slack and Graph calls happen later in the worker. Every subscribed event type has
a listener, so Slack never gets a 404 and never retries for it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cards import (
    ACTION_CANNED,
    ACTION_CLAIM,
    ACTION_CLOSE,
    ACTION_REOPEN,
    ACTION_TEMPLATE,
    ACTION_TRANSFER,
    TEMPLATE_MODAL_CALLBACK_ID,
    TEMPLATE_NAME_BLOCK,
    TEMPLATE_PARAMS_BLOCK,
    TRANSFER_AGENT_ACTION,
    TRANSFER_AGENT_BLOCK,
    TRANSFER_MODAL_CALLBACK_ID,
    TRANSFER_REASON_ACTION,
    TRANSFER_REASON_BLOCK,
    TRANSFER_TEAM_ACTION,
    TRANSFER_TEAM_BLOCK,
    template_modal,
    transfer_modal,
)
from bot.events import classify
from bot.modals import CANNED_ACTION, CANNED_BLOCK, CANNED_MODAL_CALLBACK_ID, canned_modal
from bridge.domain import parse_ref
from bridge.errors import InvalidInput
from bridge.i18n import t
from bridge.outbound import ThreadEvent
from commands import ALL_COMMANDS

log = logging.getLogger("traza.slack")
SHORTCUT_CALLBACK_IDS = tuple(
    f"conv_{verb}_shortcut" for verb in ("claim", "transfer", "close", "reopen", "history")
)
BUTTON_ACTION_IDS = (
    ACTION_CLAIM,
    ACTION_CLOSE,
    ACTION_REOPEN,
    ACTION_TRANSFER,
    ACTION_TEMPLATE,
    ACTION_CANNED,
)
MODAL_VERBS = ("transfer", "template", "canned")


class InteractionHandler(Protocol):
    async def on_thread_event(self, item: ThreadEvent, event_id: str | None) -> None: ...

    async def command(self, command: str, text: str, user: str, channel: str) -> str:
        """The ephemeral answer to a slash command (never raises)."""
        ...

    async def act(self, verb: str, ref: int, user: str) -> str:
        """Claim, close, reopen or show history from a button or shortcut; the sentence to tell."""
        ...

    async def transfer(self, ref: int, user: str, team_id: str | None, agent: str | None, reason: str) -> str:
        """Raises ``InvalidInput`` with the reason when refused (shown on the modal)."""
        ...

    async def ref_of_thread(self, channel: str, ts: str) -> int | None: ...

    async def mention(
        self, channel: str, thread_ts: str | None, user: str, text: str, event_id: str | None
    ) -> None:
        """Run ``@Traza <verb> …`` (in a thread: for its conversation) and answer privately there."""
        ...

    async def tell(self, channel: str, thread_ts: str | None, user: str, text: str) -> None:
        """Queue a private answer for ``user`` (delivered by the worker)."""
        ...

    def teams(self) -> list[tuple[str, str]]: ...

    async def canned_choices(self, ref: int) -> list[tuple[str, str, str]]:
        """``(id, title, text)`` of the canned replies offered on conversation ``ref``."""
        ...

    async def send_canned(self, ref: int, user: str, canned_id: str) -> str:
        """Raises ``InvalidInput`` with the reason when the picker may not send it (shown on the modal)."""
        ...

    async def home_opened(self, user: str) -> None:
        """Queue a refresh of ``user``'s App Home."""
        ...


def build_bolt_app(client: AsyncWebClient, signing_secret: str, handler: InteractionHandler) -> AsyncApp:
    app = AsyncApp(client=client, signing_secret=signing_secret, process_before_response=True)

    @app.event("message")
    async def on_message(body: dict[str, Any], context: AsyncBoltContext) -> None:
        event = body.get("event")
        if not isinstance(event, dict):
            return
        item = classify(event, context.bot_user_id, context.bot_id)
        if item is not None:
            event_id = body.get("event_id")
            await handler.on_thread_event(item, event_id if isinstance(event_id, str) else None)

    _register_commands(app, handler)
    _register_buttons(app, handler)
    _register_shortcuts(app, handler)
    _register_transfer_modal(app, handler)
    _register_template_modal(app, handler)
    _register_canned_modal(app, handler)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any]) -> None:
        # The same text also arrives as a ``message`` event (and is dropped there as a mention).
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("user"), str):
            return
        if not isinstance(event.get("channel"), str) or event.get("bot_id"):
            return
        thread_ts = event.get("thread_ts")
        event_id = body.get("event_id")
        await handler.mention(
            event["channel"],
            thread_ts if isinstance(thread_ts, str) else None,
            event["user"],
            str(event.get("text") or ""),
            event_id if isinstance(event_id, str) else None,
        )

    @app.event("member_joined_channel")
    async def on_join(body: dict[str, Any]) -> None:
        return None

    @app.event("app_home_opened")
    async def on_home(body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") == "home" and isinstance(event.get("user"), str):
            await handler.home_opened(event["user"])

    return app


def _register_commands(app: AsyncApp, handler: InteractionHandler) -> None:
    async def on_command(ack: AsyncAck, body: dict[str, Any]) -> None:
        answer = await handler.command(
            str(body.get("command", "")),
            str(body.get("text") or ""),
            str(body.get("user_id", "")),
            str(body.get("channel_id", "")),
        )
        await ack(response_type="ephemeral", text=answer)

    for name in sorted(ALL_COMMANDS):
        app.command(name)(on_command)


def _ref_of(value: object) -> int | None:
    ref = parse_ref(str(value or ""))
    return int(ref) if ref is not None else None


def _register_buttons(app: AsyncApp, handler: InteractionHandler) -> None:
    async def on_button(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        action = (body.get("actions") or [{}])[0]
        ref = _ref_of(action.get("value"))
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        thread = (body.get("container") or {}).get("message_ts")
        if ref is None:
            return
        verb = str(action.get("action_id", "")).removeprefix("conv_")
        if verb in MODAL_VERBS:
            await _open_modal(client, handler, body, verb, ref, channel, thread)
            return
        await handler.tell(channel, thread, user, await handler.act(verb, ref, user))

    for action_id in BUTTON_ACTION_IDS:
        app.action(action_id)(on_button)


def _register_shortcuts(app: AsyncApp, handler: InteractionHandler) -> None:
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id", ""))
        user = str((body.get("user") or {}).get("id", ""))
        thread = str(message.get("thread_ts") or message.get("ts") or "")
        ref = await handler.ref_of_thread(channel, thread)
        if ref is None:
            await handler.tell(
                channel, None, user, t("This message is not in a Traza conversation's thread.")
            )
            return
        verb = str(body.get("callback_id", "")).removeprefix("conv_").removesuffix("_shortcut")
        if verb == "transfer":
            await _open_modal(client, handler, body, verb, ref, channel, thread)
            return
        await handler.tell(channel, thread, user, await handler.act(verb, ref, user))

    for callback_id in SHORTCUT_CALLBACK_IDS:
        app.shortcut(callback_id)(on_shortcut)


async def _open_modal(
    client: AsyncWebClient,
    handler: InteractionHandler,
    body: dict[str, Any],
    verb: str,
    ref: int,
    channel: str,
    thread: object,
) -> None:
    metadata = json.dumps({"ref": ref, "channel": channel, "thread_ts": thread})
    user = str((body.get("user") or {}).get("id", ""))
    if verb == "transfer":
        view = transfer_modal(ref, handler.teams(), metadata)
    elif verb == "canned":
        try:
            replies = await handler.canned_choices(ref)
        except InvalidInput as exc:
            replies, reason = [], str(exc)
        else:
            reason = "No canned replies are configured for this team (`canned:` in traza.yml)."
        if not replies:
            await handler.tell(channel, str(thread) if thread else None, user, reason)
            return
        view = canned_modal(ref, replies, metadata)
    else:
        view = template_modal(ref, metadata)
    try:
        await client.views_open(trigger_id=body.get("trigger_id"), view=view)
    except SlackApiError as exc:
        log.warning("could not open the %s modal: %s", verb, exc.response.get("error"))
        await handler.tell(
            channel,
            str(thread) if thread else None,
            user,
            t("Could not open the dialog; use `/traza {verb} {ref} …` instead.", verb=verb, ref=ref),
        )


@dataclass(frozen=True, slots=True)
class _Submission:
    """What every modal submission carries: the inputs, the conversation and where it was opened."""

    values: dict[str, Any]
    ref: int | None
    user: str
    channel: str
    thread_ts: str | None

    def field(self, block: str, action: str, key: str) -> Any:
        return ((self.values.get(block) or {}).get(action) or {}).get(key)

    @classmethod
    def of(cls, body: dict[str, Any]) -> _Submission:
        view = body.get("view") or {}
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        thread = meta.get("thread_ts")
        return cls(
            (view.get("state") or {}).get("values") or {},
            _ref_of(meta.get("ref")),
            str((body.get("user") or {}).get("id", "")),
            str(meta.get("channel") or ""),
            str(thread) if thread else None,
        )


def _register_transfer_modal(app: AsyncApp, handler: InteractionHandler) -> None:
    @app.view(TRANSFER_MODAL_CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        sub = _Submission.of(body)
        team = sub.field(TRANSFER_TEAM_BLOCK, TRANSFER_TEAM_ACTION, "selected_option")
        agent = sub.field(TRANSFER_AGENT_BLOCK, TRANSFER_AGENT_ACTION, "selected_user")
        reason = sub.field(TRANSFER_REASON_BLOCK, TRANSFER_REASON_ACTION, "value") or ""
        if sub.ref is None:
            await ack(
                response_action="errors",
                errors={TRANSFER_TEAM_BLOCK: t("This dialog lost its conversation.")},
            )
            return
        try:
            answer = await handler.transfer(sub.ref, sub.user, (team or {}).get("value"), agent, reason)
        except InvalidInput as exc:
            await ack(response_action="errors", errors={TRANSFER_TEAM_BLOCK: str(exc)[:150]})
            return
        await ack()
        await handler.tell(sub.channel, sub.thread_ts, sub.user, answer)


def _register_template_modal(app: AsyncApp, handler: InteractionHandler) -> None:
    @app.view(TEMPLATE_MODAL_CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        sub = _Submission.of(body)
        name = str(sub.field(TEMPLATE_NAME_BLOCK, "value", "value") or "").strip()
        raw = str(sub.field(TEMPLATE_PARAMS_BLOCK, "value", "value") or "")
        if sub.ref is None or not name:
            await ack(response_action="errors", errors={TEMPLATE_NAME_BLOCK: t("Give the template's name.")})
            return
        params = [line.strip() for line in raw.splitlines() if line.strip()]
        answer = await handler.command(
            "/traza", "start " + " ".join([str(sub.ref), name, *map(_quote, params)]), sub.user, sub.channel
        )
        await ack()
        await handler.tell(sub.channel, sub.thread_ts, sub.user, answer)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _register_canned_modal(app: AsyncApp, handler: InteractionHandler) -> None:
    @app.view(CANNED_MODAL_CALLBACK_ID)
    async def on_submit(ack: AsyncAck, body: dict[str, Any]) -> None:
        sub = _Submission.of(body)
        chosen = sub.field(CANNED_BLOCK, CANNED_ACTION, "selected_option") or {}
        if sub.ref is None or not chosen.get("value"):
            await ack(response_action="errors", errors={CANNED_BLOCK: "Choose a canned reply."})
            return
        try:
            answer = await handler.send_canned(sub.ref, sub.user, str(chosen["value"]))
        except InvalidInput as exc:
            await ack(response_action="errors", errors={CANNED_BLOCK: str(exc)[:150]})
            return
        await ack()
        await handler.tell(sub.channel, sub.thread_ts, sub.user, answer)
