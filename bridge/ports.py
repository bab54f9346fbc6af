"""The ports the bridge's use cases need, as typing Protocols implemented at the edges.

``ChatSurface`` is Slack (``bot.surface``), ``MediaSource`` and ``WhatsAppSender`` are the Graph API
(``bridge.whatsapp.graph``), and ``MirrorLedger`` is the database side of one job (``store.ledger``).
Tests use in-memory fakes of these instead of mocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.domain import ConversationView, SlackTs
from bridge.inbound import InboundMessage


@dataclass(frozen=True, slots=True)
class MediaFile:
    data: bytes
    mime_type: str
    filename: str


@dataclass(frozen=True, slots=True)
class InboundToMirror:
    """One customer message ready to go to Slack, with the Slack message it quotes or reacts to."""

    link_id: int
    view: ConversationView
    message: InboundMessage
    target_ts: SlackTs | None
    posted_ts: SlackTs | None = None


class ChatSurface(Protocol):
    async def post_card(self, view: ConversationView, now: datetime) -> SlackTs: ...

    async def find_card(self, view: ConversationView) -> SlackTs | None:
        """The card already posted for this conversation (a crash may have hidden it from us)."""
        ...

    async def update_card(self, view: ConversationView, now: datetime) -> None: ...

    async def post_customer_message(self, item: InboundToMirror) -> SlackTs: ...

    async def find_mirrored(self, view: ConversationView, link_id: int) -> SlackTs | None:
        """The thread reply already posted for this message link, if any."""
        ...

    async def upload_file(self, view: ConversationView, file: MediaFile) -> None: ...

    async def post_notice(self, view: ConversationView, text: str) -> SlackTs: ...


class MediaSource(Protocol):
    async def fetch(self, media_id: str, fallback_name: str) -> MediaFile: ...


class MirrorLedger(Protocol):
    """The database side of one mirror job; each ``*_done`` call commits and finishes the job."""

    async def view(self, conversation_id: int) -> ConversationView: ...

    async def inbound(self, link_id: int) -> InboundToMirror: ...

    async def card_posted(self, conversation_id: int, ts: SlackTs) -> None: ...

    async def card_updated(self) -> None: ...

    async def message_posted(self, link_id: int, ts: SlackTs) -> None:
        """Record the thread reply's ts (without finishing the job: media may still follow)."""
        ...

    async def message_mirrored(self, link_id: int, problem: str | None = None) -> None: ...
