"""Messages Traza itself sends the customer: the routing menu and automatic (after-hours) replies.

``menu_message`` builds the Cloud API ``interactive`` object of a routing menu — reply buttons for
up to three options, a list for more — and the options are numbered in the body as well, so a
customer can also answer by typing the number or the title. ``send_automatic`` sends one stored
automatic message (an outbound message link without an author) exactly once; a permanent refusal
is recorded and, for a menu, routing goes on without an answer instead of waiting for one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bridge.deliver import IN_DOUBT_WAIT
from bridge.errors import PermanentRemoteError, TransientRemoteError
from bridge.i18n import t
from bridge.ports import OutboundItem, WhatsAppSender
from bridge.rules import MENU_BUTTONS_MAX, Menu
from bridge.whatsapp.errors import advice


def menu_message(menu: Menu) -> dict[str, Any]:
    body = {"text": menu.body_text()}
    if len(menu.options) <= MENU_BUTTONS_MAX:
        buttons = [{"type": "reply", "reply": {"id": o.choice_id, "title": o.title}} for o in menu.options]
        return {"type": "button", "body": body, "action": {"buttons": buttons}}
    rows = []
    for option in menu.options:
        row = {"id": option.choice_id, "title": option.title}
        if option.description:
            row["description"] = option.description
        rows.append(row)
    button = menu.button or t("Choose")
    return {
        "type": "list",
        "body": body,
        "action": {"button": button, "sections": [{"title": button, "rows": rows}]},
    }


class AutomaticLedger(Protocol):
    async def outbound(self, link_id: int) -> OutboundItem: ...

    async def sending(self, link_id: int) -> None: ...

    async def send_settled(self, link_id: int) -> None: ...

    async def automatic_sent(self, link_id: int, wa_message_id: str) -> None: ...

    async def automatic_failed(self, link_id: int, code: str, reason: str) -> None:
        """Record the refusal; a menu stops being waited for, a reply's failure is told in the thread."""
        ...

    async def done(self) -> None: ...


async def send_automatic(
    link_id: int, ledger: AutomaticLedger, sender: WhatsAppSender, now: datetime
) -> None:
    item = await ledger.outbound(link_id)
    if item.wa_message_id or item.status != "pending":
        await ledger.done()  # sent (or refused for good) before a crash
        return
    if item.sending_since is not None and now - item.sending_since < IN_DOUBT_WAIT:
        # As for agents' replies: a send that may have reached Meta waits for its status webhook.
        raise TransientRemoteError(
            "whatsapp",
            "in_doubt",
            "an earlier send may have reached WhatsApp; waiting for its status before sending again",
            retry_after=(IN_DOUBT_WAIT - (now - item.sending_since)).total_seconds(),
            in_doubt=True,
        )
    body: dict[str, object] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **({"to": f"+{item.wa_id}"} if item.wa_id else {"recipient": item.user_id or ""}),
        "biz_opaque_callback_data": f"link:{item.link_id}",
    }
    if item.interactive is not None:
        body |= {"type": "interactive", "interactive": item.interactive}
    else:
        body |= {"type": "text", "text": {"body": item.text, "preview_url": "http" in item.text}}
    try:
        await ledger.sending(link_id)
        wamid = await sender.send(item.phone_number_id, body)
    except TransientRemoteError as exc:
        if not exc.in_doubt:
            await ledger.send_settled(link_id)
        raise
    except PermanentRemoteError as exc:
        reason = exc.details if exc.side != "whatsapp" else advice(exc.code)
        await ledger.automatic_failed(link_id, str(exc.code), reason)
        return
    await ledger.automatic_sent(link_id, wamid)
