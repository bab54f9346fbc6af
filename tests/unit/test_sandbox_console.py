"""The console's translations: modal answers into Slack's ``view.state``, and the phone's ticks."""

from __future__ import annotations

from bot.cards import transfer_modal
from traza.sandbox.console_slack import view_state
from traza.sandbox.ticks import DELIVERED_AFTER, DeliveryTicks


def test_modal_answers_become_the_view_state_slack_would_submit() -> None:
    view = transfer_modal(1001, [("ventas", "Ventas"), ("soporte", "Soporte")], "meta")
    state = view_state(view, {"transfer_team": "ventas", "transfer_agent": "", "transfer_reason": "comprar"})
    assert state == {
        "transfer_team": {"team": {"type": "static_select", "selected_option": {"value": "ventas"}}},
        "transfer_agent": {"agent": {"type": "users_select", "selected_user": None}},
        "transfer_reason": {"reason": {"type": "plain_text_input", "value": "comprar"}},
    }


def test_ticks_go_sent_then_delivered_and_read_only_once_the_phone_showed_it() -> None:
    step = DeliveryTicks._next
    assert step(None, seen=False, age=0.0) == "sent"
    assert step("sent", seen=True, age=0.0) is None, "delivered comes a moment after sent"
    assert step("sent", seen=False, age=DELIVERED_AFTER) == "delivered"
    assert step("delivered", seen=False, age=60.0) is None, "never read while the phone has not shown it"
    assert step("delivered", seen=True, age=60.0) == "read"
    assert step("read", seen=True, age=60.0) is None
