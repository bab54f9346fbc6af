"""The contacts and open conversations one ingest batch touches, read in two queries up front.

Ingest applies a batch of webhooks in one transaction, one message after another. Looking up each
message's contact and open conversation with its own queries made ingest a chain of round trips
(the single ingester's ceiling); ``BatchLookups`` reads them all at the start and is kept current
by ingest as it writes (a new contact, a changed number, a new or reopened conversation), so it
answers exactly what those per-message queries would have answered inside the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.contacts import contact_keys
from bridge.domain import ConversationState
from bridge.inbound import InboundMessage, Sender
from store.tables import contacts, conversations


class BatchLookups:
    def __init__(self) -> None:
        self.contacts: dict[int, dict[str, Any]] = {}
        self.open: dict[tuple[int, str], dict[str, Any]] = {}

    async def load(self, conn: AsyncConnection, messages: Iterable[InboundMessage]) -> None:
        senders = [m.sender for m in messages]
        if not senders:
            return
        keys = {k for s in senders for k in contact_keys(s)}
        clauses: list[ColumnElement[bool]] = [contacts.c.key.in_(keys)]
        if wa_ids := {s.wa_id for s in senders if s.wa_id}:
            clauses.append(contacts.c.wa_id.in_(wa_ids))
        if user_ids := {s.user_id for s in senders if s.user_id}:
            clauses.append(contacts.c.user_id.in_(user_ids))
        for row in (await conn.execute(select(contacts).where(or_(*clauses)))).mappings():
            self.contacts[int(row["id"])] = dict(row)
        if not self.contacts:
            return
        rows = await conn.execute(
            select(conversations)
            .where(
                conversations.c.contact_id.in_(list(self.contacts)),
                conversations.c.state != ConversationState.CLOSED,
            )
            .order_by(conversations.c.id.desc())
        )
        for conv in rows.mappings():
            self.open[(int(conv["contact_id"]), str(conv["phone_number_id"]))] = dict(conv)

    def contact(self, sender: Sender) -> dict[str, Any] | None:
        """The oldest contact matching any of the sender's keys, wa_id or user_id."""
        keys = set(contact_keys(sender))
        for contact_id in sorted(self.contacts):
            row = self.contacts[contact_id]
            if (
                row["key"] in keys
                or (sender.wa_id and row["wa_id"] == sender.wa_id)
                or (sender.user_id and row["user_id"] == sender.user_id)
            ):
                return row
        return None

    def remember_contact(self, contact_id: int, values: dict[str, Any]) -> None:
        self.contacts.setdefault(contact_id, {"id": contact_id}).update(values)

    def conversation(self, contact_id: int, phone_number_id: str) -> dict[str, Any] | None:
        return self.open.get((contact_id, phone_number_id))

    def remember_conversation(self, conv: dict[str, Any]) -> dict[str, Any]:
        self.open[(int(conv["contact_id"]), str(conv["phone_number_id"]))] = conv
        return conv
