"""The database side of sending an automatic message (``bridge.automatic.send_automatic``).

An automatic message is an outbound message link without an author. Sending it records an
``AutomaticMessageSent`` event (not ``ReplySent``: no agent answered, so response-time metrics are
untouched). A refusal marks the link failed and records ``AutomaticMessageFailed``; a held menu then
stops being waited for, and a failed reply is told in the conversation's thread.
"""

from __future__ import annotations

import json

from sqlalchemy import select, update

from bridge.domain import EventType
from bridge.i18n import t
from store import jobs
from store.ledger import JobLedger
from store.routing import menu_failed
from store.tables import message_links


class AutomaticJobLedger(JobLedger):
    async def automatic_sent(self, link_id: int, wa_message_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(message_links)
                .where(message_links.c.id == link_id)
                .values(wa_message_id=wa_message_id, status="sent", status_at=self.clock())
            )
            await self._link_event(
                conn, link_id, EventType.AUTOMATIC_MESSAGE_SENT, {"wa_message_id": wa_message_id}
            )
            await jobs.finish(conn, self.job_id)

    async def automatic_failed(self, link_id: int, code: str, reason: str) -> None:
        async with self.engine.begin() as conn:
            numeric = int(code) if code.lstrip("-").isdigit() else None
            await conn.execute(
                update(message_links)
                .where(message_links.c.id == link_id)
                .values(status="failed", status_at=self.clock(), error_code=numeric, error_text=reason)
            )
            await self._link_event(
                conn, link_id, EventType.AUTOMATIC_MESSAGE_FAILED, {"code": code, "reason": reason}
            )
            row = (
                await conn.execute(
                    select(
                        message_links.c.conversation_id, message_links.c.kind, message_links.c.payload
                    ).where(message_links.c.id == link_id)
                )
            ).one()
            purpose = json.loads(row.payload or "{}").get("automatic")
            if purpose == "menu":
                await menu_failed(conn, row.conversation_id, self.clock())
            else:
                await jobs.enqueue(
                    conn,
                    f"conv:{row.conversation_id}",
                    "thread_notice",
                    {
                        "conversation_id": row.conversation_id,
                        "text": t(
                            "⚠️ Traza's automatic reply could not be sent to the customer: "
                            "{reason} (error {code})",
                            reason=reason,
                            code=code,
                        ),
                    },
                    self.clock(),
                )
            await jobs.finish(conn, self.job_id)
