"""Use cases that mirror WhatsApp into Slack: post a conversation's card, mirror a customer message,
refresh the card. Each runs as one job of the durable queue and is safe to run again after a crash.

The crash story, step by step: a job that has already run once (``attempt > 1``) first asks the chat
surface whether its post already exists (Slack messages carry metadata naming what they mirror) and
records that instead of posting twice. A media message is two steps, the words then the file, with
the words' ts recorded in between, so a retry never re-posts text and never loses the file.
Coalescing: while a channel's pace holds posts back, plain messages queued right behind the one
being mirrored go in the same post (each part with its send time, in order; media and messages that
point at another message stay alone). The group is written on the job before posting, so a retry
posts the same parts or, finding the post by its metadata, records every part it carried.
Remote failures are classified by the error tree: transient ones propagate (the queue retries with
backoff), permanent ones on the media step become a readable notice in the thread.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import Any

from bridge.domain import ConversationView
from bridge.errors import PermanentRemoteError
from bridge.i18n import t
from bridge.inbound import EditBody, MediaBody, ReactionBody, RevokeBody, plain_text
from bridge.ports import ChatSurface, InboundToMirror, MediaSource, MirrorLedger

log = logging.getLogger("traza.mirror")
COALESCED_TEXT_MAX = 3000  # characters of customer text in one coalesced post (Slack shows ~4000)
CREDENTIAL_CODES = frozenset({"190", "0", "10", "200"})
MIME_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "video/mp4": "mp4",
    "video/3gpp": "3gp",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def media_filename(body: MediaBody, wa_message_id: str) -> str:
    if body.filename:
        return body.filename
    base = body.mime_type.split(";")[0].strip()
    extension = MIME_EXTENSIONS.get(base, base.rsplit("/", 1)[-1] or "bin")
    return f"whatsapp-{body.kind}-{wa_message_id[-8:].strip('=')}.{extension}"


async def post_card(
    conversation_id: int, attempt: int, ledger: MirrorLedger, surface: ChatSurface, now: datetime
) -> None:
    view = await ledger.view(conversation_id)
    if view.slack_thread_ts is not None:
        await ledger.card_posted(conversation_id, view.slack_thread_ts)
        return
    found = await surface.find_card(view) if attempt > 1 else None
    ts = found or await surface.post_card(view, now)
    await ledger.card_posted(conversation_id, ts)


async def update_card(
    conversation_id: int, ledger: MirrorLedger, surface: ChatSurface, now: datetime
) -> None:
    view = await ledger.view(conversation_id)
    await surface.update_card(view, now)
    await ledger.card_updated()


async def mirror_inbound(
    link_id: int,
    attempt: int,
    ledger: MirrorLedger,
    surface: ChatSurface,
    media: MediaSource,
    coalesce: int = 1,
) -> int:
    """Mirror one customer message; with ``coalesce > 1`` (the channel's pace is being kept), plain
    messages of the same conversation queued right behind it go in the same post. Returns how
    many messages the post carried beyond this one (Slack posts saved)."""
    item = await ledger.inbound(link_id)
    if item.view.slack_thread_ts is None:
        # The card was given up earlier (or is missing): post it now rather than lose the message.
        ts = await surface.post_card(item.view, datetime.now(UTC))
        await ledger.card_posted(item.view.id, ts, finish=False)
        item = await ledger.inbound(link_id)
    body = item.message.body
    posted = item.posted_ts
    if posted is None and attempt > 1:
        posted = await surface.find_mirrored(item.view, link_id)
        if posted is not None and not isinstance(body, MediaBody):
            carried = await ledger.coalesced_group() or []
            await ledger.group_mirrored([link_id, *carried], posted, item.view.slack_channel)
            return len(carried)
        if posted is not None:
            await ledger.message_posted(link_id, posted)
    if posted is None and coalescable(item):
        group = await _group(item, attempt, coalesce, ledger)
        if group:
            posted = await surface.post_customer_messages([item, *group])
            await ledger.group_mirrored(
                [link_id, *(g.link_id for g in group)], posted, item.view.slack_channel
            )
            return len(group)
    if posted is None:
        posted = await surface.post_customer_message(item)
        if not isinstance(body, MediaBody):
            await ledger.group_mirrored([link_id], posted, item.view.slack_channel)
            return 0
        await ledger.message_posted(link_id, posted)
    if not isinstance(body, MediaBody):
        await ledger.message_mirrored(link_id)
        return 0
    problem = await _mirror_media(item.view, body, item.message.wa_message_id, surface, media)
    await ledger.message_mirrored(link_id, problem)
    return 0


def coalescable(item: InboundToMirror) -> bool:
    """Plain words that stand on their own: no file to upload and no earlier message to point at."""
    body = item.message.body
    if isinstance(body, (MediaBody, ReactionBody, EditBody, RevokeBody)):
        return False
    return item.target_ts is None and not (item.message.context and item.message.context.quoted)


async def _group(
    item: InboundToMirror, attempt: int, coalesce: int, ledger: MirrorLedger
) -> list[InboundToMirror]:
    """The queued messages to post with ``item``: the group an earlier attempt fixed (so a retry
    never posts a different set), else the longest run of coalescable ones, fixed before posting."""
    fixed = await ledger.coalesced_group() if attempt > 1 else None  # a first try posted nothing
    if fixed is not None:
        return [await ledger.inbound(link) for link in fixed]
    if coalesce <= 1:
        return []
    group: list[InboundToMirror] = []
    size = len(plain_text(item.message.body))
    for queued in await ledger.queued_inbound(coalesce - 1):
        size += len(plain_text(queued.message.body)) + 24
        if not coalescable(queued) or size > COALESCED_TEXT_MAX:
            break
        group.append(queued)
    if group:
        await ledger.fix_group([g.link_id for g in group])
    return group


async def _mirror_media(
    view: ConversationView, body: MediaBody, wa_message_id: str, surface: ChatSurface, media: MediaSource
) -> str | None:
    try:
        file = await media.fetch(body.media_id, media_filename(body, wa_message_id))
    except PermanentRemoteError as exc:
        if str(exc.code) in CREDENTIAL_CODES:
            raise  # an expired token is fixed by an admin; the worker retries slowly, nothing is lost
        problem = t(
            "⚠️ The {kind} could not be downloaded from WhatsApp ({code}: {reason}).",
            kind=body.kind,
            code=exc.code,
            reason=exc.message,
        )
        await surface.post_notice(view, problem)
        return problem
    await surface.upload_file(view, file)
    return None


async def transfer_card(
    payload: dict[str, Any], attempt: int, ledger: MirrorLedger, surface: ChatSurface, now: datetime
) -> None:
    """Slack cannot move a thread: post a new card in the destination channel and switch to it."""
    conversation_id = int(payload["conversation_id"])
    view = await ledger.view(conversation_id)
    target = payload["to_channel"]
    moved = dataclasses.replace(view, slack_channel=target, slack_thread_ts=None)
    found = await surface.find_card(moved) if attempt > 1 else None
    ts = found or await surface.post_card(moved, now)
    await ledger.transfer_card_posted(conversation_id, target, ts, payload)


async def transfer_context(payload: dict[str, Any], ledger: MirrorLedger, surface: ChatSurface) -> None:
    """The new thread learns where the conversation comes from; the old one where it went.

    Three Slack writes; each is recorded as done on the job when it succeeds, so a retry after a
    failure of a later one does not repeat the earlier ones.
    """
    view = await ledger.view(int(payload["conversation_id"]))
    old_channel, old_thread = payload.get("from_channel"), payload.get("from_thread")
    by, reason = payload.get("by"), payload.get("reason") or ""
    assert view.slack_thread_ts is not None
    done = set(payload.get("done") or [])
    if "context" not in done:
        lines = [
            t("↪️ Transferred from team *{team}* by <@{by}>", team=payload.get("from_team"), by=by)
            + (f": {reason}" if reason else ".")
        ]
        if old_channel and old_thread:
            lines.append(f"<{await surface.permalink(old_channel, old_thread)}|{t('Previous thread')}>")
        recent = await ledger.recent_messages(view.id, 5)
        if recent:
            lines += [t("*Last messages:*"), *recent]
        await surface.post_text(view.slack_channel, view.slack_thread_ts, "\n".join(lines))
        await ledger.step_done("context")
    if old_channel and old_thread:
        link = await surface.permalink(view.slack_channel, view.slack_thread_ts)
        notice = t(
            "➡️ #{ref} moved to team *{team}* by <@{by}>: <{link}|continue in its new thread>.",
            ref=view.ref,
            team=view.team_name,
            by=by,
            link=link,
        )
        if "notice" not in done:
            await surface.post_text(old_channel, old_thread, notice)
            await ledger.step_done("notice")
        if "retire" not in done:
            moved = t("transferred to {team}.", team=view.team_name)
            text = f"#{view.ref} · {view.contact_name} — {moved} {notice}"
            await surface.replace_card(old_channel, old_thread, text)
    await ledger.card_updated()


async def post_note(payload: dict[str, Any], ledger: MirrorLedger, surface: ChatSurface) -> None:
    view = await ledger.view(int(payload["conversation_id"]))
    if view.slack_thread_ts:
        await surface.post_text(
            view.slack_channel,
            view.slack_thread_ts,
            t("📝 Note by <@{user}>: {text}", user=payload["user"], text=payload["text"]),
        )
    await ledger.card_updated()
