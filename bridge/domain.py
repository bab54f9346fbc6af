"""Traza's domain vocabulary: typed ids, conversation states and the one event vocabulary.

Glossary (no synonyms anywhere in the code base):

- **conversation**: one case with one customer on one business WhatsApp number, from the first message
  to its close. A customer writing again after a close opens a new conversation linked to the old ones.
- **ref**: a conversation's short public number (``1042``), shown on its card, typed as ``1042``/``#1042``.
- **contact**: the WhatsApp user (customer), keyed by business-scoped user id or phone digits.
- **agent**: a Slack user who answers. **lead**: an agent allowed to reassign inside a team.
- **team**: a group with its Slack channel (a large team may have several; new cards spread over them).
- **card**: the thread's parent message in Slack, always showing the live state of the conversation.
- **message link**: the pair (``wa_message_id`` ⇄ ``slack_channel`` + ``slack_ts``) for one mirrored message.
- **mirror**: to copy a message from one side to the other, keeping order and identity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NewType

if TYPE_CHECKING:  # the schedule module imports this one
    from bridge.schedule import BusinessHours

WaMessageId = NewType("WaMessageId", str)
"""A Cloud API message id (``wamid.…``); opaque, never parsed."""
WaPhoneNumberId = NewType("WaPhoneNumberId", str)
"""The Cloud API id of one business number (``metadata.phone_number_id``)."""
SlackChannel = NewType("SlackChannel", str)
SlackTs = NewType("SlackTs", str)
"""A Slack message timestamp (``1767268800.000100``); a thread is named by its parent's ts."""
SlackUserId = NewType("SlackUserId", str)
TeamId = NewType("TeamId", str)
Ref = NewType("Ref", int)

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


class ConversationState(enum.StrEnum):
    """Where a conversation is in its life. ``open`` waits for an agent; ``assigned`` has a holder."""

    OPEN = "open"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class DeliveryStatus(enum.StrEnum):
    """WhatsApp delivery states of an outbound message, in the order they may only move forward."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    def advances_to(self, new: DeliveryStatus) -> bool:
        """A status update is applied only when it moves forward (a late ``sent`` after ``read`` is ignored).

        ``failed`` is terminal and may follow any non-terminal state.
        """
        if self is DeliveryStatus.FAILED:
            return False
        if new is DeliveryStatus.FAILED:
            return True
        return new.rank > self.rank


_STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.READ: 3,
    DeliveryStatus.PLAYED: 4,
    DeliveryStatus.FAILED: 5,
}


class EventType(enum.StrEnum):
    """The one event vocabulary, used by the audit log, metrics and logs alike (past tense)."""

    CONVERSATION_OPENED = "ConversationOpened"
    CONVERSATION_ROUTED = "ConversationRouted"
    MENU_OFFERED = "MenuOffered"
    AUTOMATIC_MESSAGE_SENT = "AutomaticMessageSent"
    AUTOMATIC_MESSAGE_FAILED = "AutomaticMessageFailed"
    CUSTOMER_MESSAGE_RECEIVED = "CustomerMessageReceived"
    CUSTOMER_MESSAGE_MIRRORED = "CustomerMessageMirrored"
    CUSTOMER_MESSAGE_EDITED = "CustomerMessageEdited"
    CUSTOMER_MESSAGE_REVOKED = "CustomerMessageRevoked"
    CUSTOMER_REACTED = "CustomerReacted"
    CONTACT_CHANGED_NUMBER = "ContactChangedNumber"
    CARD_POSTED = "CardPosted"
    MIRROR_FAILED = "MirrorFailed"
    REPLY_RECEIVED = "ReplyReceived"
    REPLY_SENT = "ReplySent"
    REPLY_DELIVERED = "ReplyDelivered"
    REPLY_READ = "ReplyRead"
    REPLY_FAILED = "ReplyFailed"
    REPLY_REFUSED = "ReplyRefused"
    REPLY_EDIT_ATTEMPTED = "ReplyEditAttempted"
    REPLY_DELETE_ATTEMPTED = "ReplyDeleteAttempted"
    NOTE_ADDED = "NoteAdded"
    TEMPLATE_SENT = "TemplateSent"
    STATUS_RECEIVED = "StatusReceived"
    CONVERSATION_CLAIMED = "ConversationClaimed"
    CONVERSATION_TRANSFERRED = "ConversationTransferred"
    CONVERSATION_CLOSED = "ConversationClosed"
    CONVERSATION_REOPENED = "ConversationReopened"
    COMMAND_REFUSED = "CommandRefused"
    WEBHOOK_ERROR_RECEIVED = "WebhookErrorReceived"
    UPDATE_SKIPPED = "UpdateSkipped"
    CONFIGURATION_CHANGED = "ConfigurationChanged"
    CUSTOMER_ENRICHED = "CustomerEnriched"
    CUSTOMER_ENRICHMENT_FAILED = "CustomerEnrichmentFailed"
    WEBHOOK_DEAD_LETTERED = "WebhookDeadLettered"
    CONVERSATION_ASSIGNED = "ConversationAssigned"
    """Traza picked a holder by the team's assignment rule (payload: mode, candidates, loads, reason)."""
    ASSIGNMENT_DEFERRED = "AssignmentDeferred"
    """The rule found nobody free (all away or at capacity): the conversation waits in the queue."""
    CONVERSATION_RETURNED = "ConversationReturned"
    """The holder left the customer unanswered past ``return_after_minutes``: back to the queue."""
    AGENT_WENT_AWAY = "AgentWentAway"
    AGENT_CAME_BACK = "AgentCameBack"
    LABELS_CHANGED = "LabelsChanged"
    CSAT_REQUESTED = "CsatRequested"
    CSAT_ANSWERED = "CsatAnswered"
    MESSAGE_BODIES_ERASED = "MessageBodiesErased"
    CUSTOMER_DATA_ERASED = "CustomerDataErased"
    SLA_BREACHED = "SlaBreached"


class SlaTarget(enum.StrEnum):
    """The two service-level targets a team may set (``teams[].sla`` in ``traza.yml``)."""

    FIRST_RESPONSE = "first_response"
    """An agent answers within this long of the conversation opening."""
    RESOLUTION = "resolution"
    """The conversation is closed within this long of opening."""


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """A team's targets; ``None`` means no target of that kind."""

    first_response: timedelta | None = None
    resolution: timedelta | None = None

    def of(self, target: SlaTarget) -> timedelta | None:
        return self.first_response if target is SlaTarget.FIRST_RESPONSE else self.resolution


@dataclass(frozen=True, slots=True)
class EarlierConversation:
    """One of the customer's previous conversations, as linked on the card."""

    ref: Ref
    opened_at: datetime
    state: ConversationState
    slack_channel: SlackChannel
    slack_thread_ts: SlackTs | None

    @property
    def permalink(self) -> str | None:
        if not self.slack_thread_ts:
            return None
        return f"https://slack.com/archives/{self.slack_channel}/p{self.slack_thread_ts.replace('.', '')}"


@dataclass(frozen=True, slots=True)
class ConversationView:
    """What the card and the Slack side need to know about one conversation."""

    id: int
    ref: Ref
    state: ConversationState
    team_id: TeamId
    team_name: str
    slack_channel: SlackChannel
    slack_thread_ts: SlackTs | None
    assignee: SlackUserId | None
    contact_name: str
    contact_display: str
    business_number: str
    opened_at: datetime
    last_customer_message_at: datetime | None
    last_agent_message_at: datetime | None
    window_ends_at: datetime | None
    closed_at: datetime | None = None
    closed_by: SlackUserId | None = None
    first_response_at: datetime | None = None
    close_reason: str | None = None
    previous_ref: Ref | None = None
    customer_facts: tuple[tuple[str, str], ...] = ()
    """What the CRM lookup said about the customer (``account``, ``owner``…), in configured order."""
    crm_problem: str | None = None
    """Why the CRM lookup failed, shown on the card; ``None`` when it worked or did not run."""
    labels: tuple[str, ...] = ()
    earlier: tuple[EarlierConversation, ...] = ()
    """The customer's previous conversations (newest first), loaded for the card only."""
    sla: SlaTargets | None = None
    hours: BusinessHours | None = None
    """The team's business hours: its SLA clocks run only while it is open."""
    routing_rule: str | None = None
    """Which routing rule sent the conversation to its team, and why (shown on the card)."""

    def window_open(self, now: datetime) -> bool:
        return self.window_ends_at is not None and now < self.window_ends_at

    def waiting_since(self) -> datetime | None:
        """The customer is waiting when their last message has no answer after it."""
        if self.state is ConversationState.CLOSED or self.last_customer_message_at is None:
            return None
        if self.last_agent_message_at and self.last_agent_message_at >= self.last_customer_message_at:
            return None
        return self.last_customer_message_at

    def sla_due(self, target: SlaTarget) -> datetime | None:
        """When ``target`` falls due, or ``None`` when it no longer can (met, closed, or no target).

        Both clocks run from the opening, in business time when the team keeps ``hours`` (else
        wall-clock): the first response is due while no agent has answered yet and the customer has
        written; the resolution while it is not closed. A reopened conversation keeps its first
        response and its opening time (docs/metrics.md).
        """
        limit = self.sla.of(target) if self.sla else None
        if limit is None or self.state is ConversationState.CLOSED:
            return None
        if target is SlaTarget.FIRST_RESPONSE and (
            self.first_response_at is not None or self.last_customer_message_at is None
        ):
            return None
        if self.hours is not None:
            return self.hours.after_open(self.opened_at, limit.total_seconds())
        return self.opened_at + limit

    def sla_overdue(self, now: datetime) -> tuple[SlaTarget, ...]:
        """The targets this conversation is past at ``now`` (what its card flags)."""
        return tuple(t for t in SlaTarget if (due := self.sla_due(t)) is not None and now >= due)


def parse_ref(text: str) -> Ref | None:
    """``1042`` or ``#1042`` → ``Ref(1042)``; anything else → ``None``."""
    raw = text.strip().removeprefix("#")
    if raw.isdigit() and 0 < len(raw) <= 12:
        return Ref(int(raw))
    return None
