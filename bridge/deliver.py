"""Use cases that deliver agents' replies to WhatsApp and mark the Slack side with what happened.

``deliver_reply`` sends one outbox entry (a text part or a file) with the agent's stamp. It is safe
to run again: an entry that already has a wamid is not sent twice, and every send carries
``biz_opaque_callback_data = "link:<id>"`` so a status webhook can name the entry even before the
send's answer was stored. Because a Graph send cannot be made idempotent, the entry is marked
*sending* (committed) before the call; a run that finds the mark without a wamid (a crash, or a
timeout that left the outcome unknown) waits ``IN_DOUBT_WAIT`` from the mark for the status webhook
to name the entry, and only then sends again. Transient failures propagate to the job queue
(retried with backoff, rate limits as Meta asks); permanent ones become a failed entry, an event
and a notice in the thread saying what happened and what to do. ``mark_status`` turns delivery
statuses into reactions on the agent's own Slack message (and a notice with the reason when
WhatsApp reports a failure).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from bridge.config import TrazaConfig
from bridge.errors import PermanentRemoteError, TransientRemoteError
from bridge.formatting import slack_to_whatsapp, stamp
from bridge.i18n import t
from bridge.ports import AgentDesk, DeliveryLedger, OutboundItem, WhatsAppSender
from bridge.whatsapp.errors import advice

STATUS_REACTIONS = {
    "sent": "outbox_tray",
    "delivered": "white_check_mark",
    "read": "eyes",
    "played": "headphones",
    "failed": "x",
}
IN_DOUBT_WAIT = timedelta(seconds=60)
log = logging.getLogger(__name__)
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def recipient(item: OutboundItem) -> dict[str, object]:
    if item.wa_id:
        return {"to": f"+{item.wa_id}"}
    return {"recipient": item.user_id or ""}


async def whatsapp_text(item: OutboundItem, text: str, config: TrazaConfig, desk: AgentDesk) -> str:
    names = {uid: await desk.user_name(uid) for uid in set(_MENTION.findall(text))}
    body = slack_to_whatsapp(text, lambda uid: names.get(uid, uid))
    if item.parts > 1:
        body = f"({item.part}/{item.parts}) {body}"
    return stamp(
        config.stamp_for(item.view.team_id),
        agent=await desk.user_name(item.author),
        team=item.view.team_name,
        text=body,
    )


async def deliver_reply(
    link_id: int,
    ledger: DeliveryLedger,
    sender: WhatsAppSender,
    desk: AgentDesk,
    config: TrazaConfig,
    now: datetime,
) -> None:
    item = await ledger.outbound(link_id)
    if item.wa_message_id or item.status != "pending":
        await ledger.done()  # already sent (or failed for good) before a crash
        return
    if item.sending_since is not None:
        waited = now - item.sending_since
        if waited < IN_DOUBT_WAIT:
            raise TransientRemoteError(
                "whatsapp",
                "in_doubt",
                "an earlier send may have reached WhatsApp; waiting for its status before sending again",
                retry_after=(IN_DOUBT_WAIT - waited).total_seconds(),
                in_doubt=True,
            )
        log.warning("outbox entry %s: no status %ss after an unanswered send; sending again", link_id, waited)
    try:
        body = await _message_body(item, config, sender, desk)
        await ledger.sending(link_id)
        wamid = await sender.send(item.phone_number_id, body)
    except TransientRemoteError as exc:
        if not exc.in_doubt:
            await ledger.send_settled(link_id)  # an answer said it was not sent: retry freely
        raise
    except PermanentRemoteError as exc:
        reason = exc.details if exc.side != "whatsapp" else advice(exc.code)
        notice = t(
            "⚠️ <@{author}> your reply was not delivered to the customer: {reason} (error {code})",
            author=item.author,
            reason=reason,
            code=exc.code,
        )
        await ledger.reply_failed(link_id, str(exc.code), reason, notice)
        return
    await ledger.reply_accepted(link_id, wamid)


async def _message_body(
    item: OutboundItem, config: TrazaConfig, sender: WhatsAppSender, desk: AgentDesk
) -> dict[str, object]:
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient(item),
        "biz_opaque_callback_data": f"link:{item.link_id}",
    }
    if item.template is not None:
        return {**body, "type": "template", "template": await _template(item, config, sender)}
    if item.file is None:
        text = await whatsapp_text(item, item.text, config, desk)
        return {**body, "type": "text", "text": {"body": text, "preview_url": "http" in text}}
    file = item.file
    kind = str(file.get("kind") or "document")
    media = await desk.download(str(file["url"]), str(file["name"]), str(file["mimetype"]))
    media_id = await sender.upload(item.phone_number_id, media)
    content: dict[str, object] = {"id": media_id}
    if kind == "document":
        content["filename"] = str(file["name"])
    if kind in ("image", "video", "document"):
        content["caption"] = await whatsapp_text(item, item.text, config, desk) if item.text else ""
        if not item.text:
            content["caption"] = stamp(
                config.stamp_for(item.view.team_id),
                agent=await desk.user_name(item.author),
                team=item.view.team_name,
                text="",
            ).strip()
    return {**body, "type": kind, kind: content}


def account_for(config: TrazaConfig, phone_number_id: str) -> str:
    number = config.number(phone_number_id)
    return number.waba_id if number and number.waba_id else phone_number_id


def approved(templates: list[dict[str, object]]) -> list[dict[str, object]]:
    return [t for t in templates if str(t.get("status", "APPROVED")).upper() == "APPROVED"]


async def _template(item: OutboundItem, config: TrazaConfig, sender: WhatsAppSender) -> dict[str, object]:
    found = [
        each
        for each in approved(await sender.templates(account_for(config, item.phone_number_id)))
        if each.get("name") == item.template
    ]
    if not found:
        raise PermanentRemoteError(
            "traza",
            "template_not_found",
            details=t(
                "there is no approved template named {name}; `/traza start {ref}` lists them",
                name=repr(item.template),
                ref=item.view.ref,
            ),
        )
    template: dict[str, object] = {
        "name": item.template,
        "language": {"code": str(found[0].get("language", "en"))},
    }
    if item.params:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in item.params]}
        ]
    return template


async def list_templates(
    conversation_id: int,
    user: str,
    ledger: DeliveryLedger,
    sender: WhatsAppSender,
    desk: AgentDesk,
    config: TrazaConfig,
) -> None:
    """Answer ``/traza start <ref>`` without a template name: the approved templates, in the thread."""
    view = await ledger.view(conversation_id)
    number = await ledger.phone_number_of(conversation_id)
    names = []
    for found in approved(await sender.templates(account_for(config, number))):
        components = found.get("components")
        body = next(
            (
                c.get("text")
                for c in (components if isinstance(components, list) else [])
                if isinstance(c, dict) and c.get("type") in ("BODY", "body")
            ),
            "",
        )
        names.append(f"• `{found.get('name')}` ({found.get('language')}): {str(body)[:120]}")
    text = (
        t(
            "*Approved templates* — send one with `/traza start {ref} &lt;template&gt; [params…]`:",
            ref=view.ref,
        )
        + "\n"
        + "\n".join(names)
        if names
        else t("No approved templates were found for this business number.")
    )
    await desk.tell(view.slack_channel, view.slack_thread_ts, user, text)
    await ledger.done()


async def thread_notice(payload: dict[str, object], ledger: DeliveryLedger, desk: AgentDesk) -> None:
    """Post a queued notice in the conversation's thread, with an optional reaction mark."""
    view = await ledger.view(int(str(payload["conversation_id"])))
    react = payload.get("react")
    if isinstance(react, list) and len(react) == 2:
        await desk.react(str(react[0]), str(react[1]), STATUS_REACTIONS["failed"])
    await desk.post_notice(view, str(payload["text"]))
    await ledger.done()


async def mark_status(link_id: int, ledger: DeliveryLedger, desk: AgentDesk) -> None:
    """React on the agent's message with the entry's current status; explain failures in the thread."""
    item = await ledger.outbound(link_id)
    reaction = STATUS_REACTIONS.get(item.status)
    if reaction and item.slack_ts:
        await desk.react(item.view.slack_channel, item.slack_ts, reaction)
    if item.status == "failed" and item.view.slack_thread_ts:  # a held conversation has no thread yet
        why = advice(item.error_code) if item.error_code is not None else t("no reason given")
        detail = f" ({item.error_text})" if item.error_text and item.error_text not in why else ""
        code = " " + t("(error {code})", code=item.error_code) if item.error_code is not None else ""
        notice = (
            t("⚠️ <@{author}> WhatsApp could not deliver your reply:", author=item.author)
            if item.author
            else t("⚠️ WhatsApp could not deliver Traza's automatic message:")
        )
        await desk.post_notice(item.view, f"{notice} {why}{detail}{code}")
    await ledger.done()
