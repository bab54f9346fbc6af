"""Who may move a conversation: members, leads, admins and the holder, as ``traza.yml`` says."""

from __future__ import annotations

import dataclasses

import pytest

from bridge.control import check_claim, check_close, check_reopen, check_transfer, visible_teams
from bridge.domain import ConversationState, SlackUserId
from tests.harness import load_test_config
from tests.unit.test_cards import make_view

CONFIG = load_test_config()
VENTAS_MEMBER, OTHER_MEMBER, VENTAS_LEAD = "U0AGENT001", "U0AGENT002", "U0LEAD0001"
SOPORTE_MEMBER, ADMIN = "U0AGENT003", "U0ADMIN001"


def held_by(user: str | None) -> object:
    state = ConversationState.ASSIGNED if user else ConversationState.OPEN
    return dataclasses.replace(make_view(state), assignee=SlackUserId(user) if user else None)


@pytest.mark.parametrize(
    ("holder", "user", "allowed"),
    [
        (None, VENTAS_MEMBER, True),
        (None, SOPORTE_MEMBER, False),
        (VENTAS_MEMBER, OTHER_MEMBER, False),
        (VENTAS_MEMBER, VENTAS_LEAD, True),
        (VENTAS_MEMBER, ADMIN, True),
    ],
)
def test_claim_rules(holder: str | None, user: str, allowed: bool) -> None:
    assert (check_claim(CONFIG, held_by(holder), user) is None) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize("check", [check_transfer, check_close])
@pytest.mark.parametrize(
    ("holder", "user", "allowed"),
    [
        (VENTAS_MEMBER, VENTAS_MEMBER, True),
        (VENTAS_MEMBER, OTHER_MEMBER, False),
        (VENTAS_MEMBER, VENTAS_LEAD, True),
        (None, OTHER_MEMBER, True),
        (None, SOPORTE_MEMBER, False),
    ],
)
def test_transfer_and_close_belong_to_the_holder_or_a_lead(
    check: object, holder: str | None, user: str, allowed: bool
) -> None:
    assert (check(CONFIG, held_by(holder), user) is None) is allowed  # type: ignore[operator]


def test_reopen_needs_a_closed_conversation_and_a_member() -> None:
    closed = make_view(ConversationState.CLOSED)
    assert check_reopen(CONFIG, closed, VENTAS_MEMBER) is None
    assert check_reopen(CONFIG, closed, SOPORTE_MEMBER) is not None
    assert check_reopen(CONFIG, make_view(), VENTAS_MEMBER) is not None


def test_search_visibility_follows_membership() -> None:
    assert visible_teams(CONFIG, ADMIN) is None
    assert visible_teams(CONFIG, VENTAS_MEMBER) == {"ventas"}
    assert visible_teams(CONFIG, SOPORTE_MEMBER) == {"soporte"}
