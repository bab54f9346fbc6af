"""The ports the bridge's use cases need, as typing Protocols implemented at the edges.

``ChatSurface`` is Slack (``bot.surface``), ``MediaSource`` and ``WhatsAppSender`` are the Graph API
(``bridge.whatsapp.graph``), and ``MirrorLedger`` is the database side of one job (``store.ledger``).
Tests use in-memory fakes of these instead of mocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.domain import ConversationView, SlackTs, SlaTarget
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

    async def post_customer_messages(self, items: list[InboundToMirror]) -> SlackTs:
        """Several plain messages of one conversation, in order, as one thread reply."""
        ...

    async def find_mirrored(self, view: ConversationView, link_id: int) -> SlackTs | None:
        """The thread reply already posted for this message link, if any."""
        ...

    async def upload_file(self, view: ConversationView, file: MediaFile) -> None: ...

    async def post_text(self, channel: str, thread_ts: str | None, text: str) -> SlackTs: ...

    async def replace_card(self, channel: str, ts: str, text: str) -> None:
        """Turn an old card into a plain notice (no buttons), e.g. after a transfer."""
        ...

    async def permalink(self, channel: str, ts: str) -> str: ...

    async def post_notice(self, view: ConversationView, text: str) -> SlackTs: ...

    async def post_nudge(self, view: ConversationView, target: SlaTarget, text: str) -> SlackTs:
        """An SLA breach's notice in the thread, tagged so ``find_nudge`` can find it after a crash."""
        ...

    async def find_nudge(self, view: ConversationView, target: SlaTarget) -> SlackTs | None: ...


class MediaSource(Protocol):
    async def fetch(self, media_id: str, fallback_name: str) -> MediaFile: ...


class MirrorLedger(Protocol):
    """The database side of one mirror job; each ``*_done`` call commits and finishes the job."""

    async def view(self, conversation_id: int) -> ConversationView: ...

    async def inbound(self, link_id: int) -> InboundToMirror: ...

    async def card_posted(self, conversation_id: int, ts: SlackTs, *, finish: bool = True) -> None: ...

    async def transfer_card_posted(
        self, conversation_id: int, channel: str, ts: SlackTs, context: dict[str, object]
    ) -> None:
        """Point the conversation at its new thread and queue the transfer's context posts."""
        ...

    async def recent_messages(self, conversation_id: int, limit: int) -> list[str]: ...

    async def step_done(self, step: str) -> None:
        """Remember on the job that ``step`` succeeded, so a retry skips it."""
        ...

    async def card_updated(self) -> None: ...

    async def message_posted(self, link_id: int, ts: SlackTs) -> None:
        """Record the thread reply's ts (without finishing the job: media may still follow)."""
        ...

    async def message_mirrored(self, link_id: int, problem: str | None = None) -> None:
        """Finish a media message's job (its words' post already recorded), noting any problem."""
        ...

    async def queued_inbound(self, limit: int) -> list[InboundToMirror]:
        """Up to ``limit`` mirror jobs queued right behind this one (not started yet), oldest first."""
        ...

    async def coalesced_group(self) -> list[int] | None:
        """The link ids an earlier attempt of this job chose to post with it, if it chose any."""
        ...

    async def fix_group(self, link_ids: list[int]) -> None:
        """Remember on the job, before posting, which queued messages go in its post."""
        ...

    async def group_mirrored(self, link_ids: list[int], ts: SlackTs, channel: str) -> None:
        """Record one post for every link of the group and finish all their jobs, in one transaction."""
        ...


@dataclass(frozen=True, slots=True)
class OutboundItem:
    """One outbox entry (a reply part or a file) with what sending it needs."""

    link_id: int
    view: ConversationView
    author: str
    text: str
    file: dict[str, object] | None
    part: int
    parts: int
    wa_message_id: str | None
    status: str
    phone_number_id: str
    wa_id: str | None
    user_id: str | None
    slack_ts: SlackTs | None
    error_code: int | None = None
    error_text: str | None = None
    template: str | None = None
    params: tuple[str, ...] = ()
    sending_since: datetime | None = None  # a send began then and its outcome is not known
    interactive: dict[str, object] | None = None
    """The Cloud API ``interactive`` object of an automatic message (a routing menu)."""


class WhatsAppSender(Protocol):
    async def send(self, phone_number_id: str, body: dict[str, object]) -> str: ...

    async def upload(self, phone_number_id: str, file: MediaFile) -> str: ...

    async def templates(self, account_id: str) -> list[dict[str, object]]: ...


class AgentDesk(Protocol):
    """What the delivery side needs from Slack besides posting: names, files, marks, private words."""

    async def user_name(self, user_id: str) -> str: ...

    async def download(self, url: str, filename: str, mimetype: str) -> MediaFile: ...

    async def react(self, channel: str, ts: str, name: str) -> None: ...

    async def tell(self, channel: str, thread_ts: str | None, user: str, text: str) -> None: ...

    async def post_notice(self, view: ConversationView, text: str) -> SlackTs: ...

    async def publish_home(self, user: str, view: dict[str, object]) -> None: ...

    async def send_file_to_user(self, user: str, file: MediaFile, comment: str) -> None:
        """Upload a file (a stats chart) into the user's direct-message channel with the app."""

    async def is_away(self, user: str) -> bool:
        """Slack presence says ``away`` (unknown counts as present)."""
        ...


class DeliveryLedger(Protocol):
    async def view(self, conversation_id: int) -> ConversationView: ...

    async def phone_number_of(self, conversation_id: int) -> str: ...

    async def outbound(self, link_id: int) -> OutboundItem: ...

    async def sending(self, link_id: int) -> None:
        """Commit that a send is about to start, so a crash mid-call leaves the outcome in doubt."""
        ...

    async def send_settled(self, link_id: int) -> None:
        """The remote answered that nothing was sent: the next attempt need not wait."""
        ...

    async def reply_accepted(self, link_id: int, wa_message_id: str) -> None: ...

    async def reply_failed(self, link_id: int, code: str, reason: str, notice: str = "") -> None:
        """Mark the entry failed, finish the job and queue ``notice`` for the thread (with a ❌ mark)."""
        ...

    async def done(self) -> None: ...
