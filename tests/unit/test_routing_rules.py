"""Routing rules: every condition kind, first match wins, the implicit rules after the explicit ones,
the menu (ask, answer, timeout), after-hours replies and on-call teams, and config errors by key path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bridge.config import ConfigError, TrazaConfig, load_config
from bridge.routing import MenuPending, RoutingDecision, explain, route
from bridge.rules import RoutingFacts

NUMBER = "106540352242922"
OTHER = "106540352242923"
VIP_PHONE = "5215512345678"
GOLD_PHONE = "5491100000001"
# Wednesday 2026-11-25 15:00 UTC = 16:00 in Madrid (open); 23:00 UTC = midnight in Madrid (closed).
OPEN_AT = datetime(2026, 11, 25, 15, 0, tzinfo=UTC)
CLOSED_AT = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)

BASE = """
teams:
  - id: ventas
    name: Ventas
    slack_channel: C0VENTAS01
    keywords: [precio, cotizacion]
  - id: soporte
    name: Soporte
    slack_channel: C0SOPORTE1
    hours:
      timezone: Europe/Madrid
      open: {mon-fri: "09:00-18:00"}
      holidays: [2026-12-25]
      after_hours_reply: "Cerrado: te respondemos mañana."
      on_call_team: guardia
  - id: facturacion
    name: Facturación
    slack_channel: C0FACTURA1
  - id: guardia
    name: Guardia
    slack_channel: C0GUARDIA1
  - id: cuentas
    name: Cuentas clave
    slack_channel: C0CUENTAS1
numbers:
  - phone_number_id: "106540352242922"
    default_team: soporte
  - phone_number_id: "106540352242923"
customers:
  "+5491100000001": {tier: gold}
routing:
  default_team: soporte
  vip: ["+52 1 55 1234 5678"]
"""


def config(rules: list[dict[str, Any]] | None = None, **extra: Any) -> TrazaConfig:
    data = yaml.safe_load(BASE)
    if rules is not None:
        data["routing"]["rules"] = rules
    data.update(extra)
    return load_config(data)


def facts(text: str = "Hola", **kwargs: Any) -> RoutingFacts:
    values: dict[str, Any] = {"phone_number_id": NUMBER, "text": text, "at": OPEN_AT} | kwargs
    return RoutingFacts(**values)


def decide(cfg: TrazaConfig, f: RoutingFacts) -> RoutingDecision:
    outcome = route(cfg, f, cfg.customer_facts(f.phone))
    assert isinstance(outcome, RoutingDecision), outcome
    return outcome


def test_without_rules_keywords_then_number_then_default_decide_as_before() -> None:
    cfg = config()
    assert decide(cfg, facts("¿Cuál es el PRECIO?")).rule == "teams[0].keywords"
    by_number = decide(cfg, facts("hola"))
    assert (by_number.team_id, by_number.rule) == ("soporte", "numbers[0].default_team")
    fallback = decide(cfg, facts("hola", phone_number_id=OTHER))
    assert (fallback.team_id, fallback.rule) == ("soporte", "routing.default_team")
    assert [t.rule for t in fallback.trials] == [
        "teams[0].keywords (ventas)",
        "numbers[1].default_team",
        "routing.default_team",
    ]


def test_number_rule_matches_only_its_number() -> None:
    cfg = config([{"name": "billing line", "when": {"number": OTHER}, "team": "facturacion"}])
    hit = decide(cfg, facts(phone_number_id=OTHER))
    assert (hit.team_id, hit.rule, hit.name) == ("facturacion", "rules[0]", "billing line")
    miss = decide(cfg, facts())
    assert miss.rule == "numbers[0].default_team"
    assert "is not 106540352242923" in miss.trials[0].why


def test_keywords_are_whole_words_accent_and_case_insensitive() -> None:
    cfg = config([{"when": {"keywords": ["factura", "nota de crédito"]}, "team": "facturacion"}])
    assert decide(cfg, facts("Necesito mi FACTURA")).team_id == "facturacion"
    assert decide(cfg, facts("quiero una nota de credito")).reason == "keyword 'nota de crédito'"
    assert decide(cfg, facts("facturaciones varias")).team_id == "soporte"  # not a whole word


def test_pattern_matches_the_folded_first_message() -> None:
    cfg = config([{"when": {"pattern": r"pedido\s*#?\d{4,}"}, "team": "ventas"}])
    hit = decide(cfg, facts("Mi PEDIDO #48213 no llegó"))
    assert hit.team_id == "ventas" and "pedido #48213" in hit.reason
    assert decide(cfg, facts("mi pedido no llegó")).team_id == "soporte"


def test_first_matching_rule_wins_over_later_ones() -> None:
    cfg = config(
        [
            {"when": {"keywords": "precio"}, "team": "facturacion"},
            {"when": {"keywords": "precio"}, "team": "cuentas"},
        ]
    )
    decision = decide(cfg, facts("precio"))
    assert (decision.team_id, decision.rule) == ("facturacion", "rules[0]")
    assert len(decision.trials) == 1


def test_all_conditions_of_a_rule_must_hold() -> None:
    cfg = config([{"when": {"number": OTHER, "keywords": "precio"}, "team": "cuentas"}])
    assert decide(cfg, facts("precio", phone_number_id=OTHER)).team_id == "cuentas"
    # Right words on the wrong number: the rule says why, and the team keywords decide.
    miss = decide(cfg, facts("precio"))
    assert miss.team_id == "ventas" and "business number" in miss.trials[0].why


def test_vip_list_and_customer_attribute_give_priority() -> None:
    cfg = config(
        [
            {"name": "vip", "when": {"vip": True}, "team": "cuentas"},
            {"name": "gold", "when": {"customer": {"tier": ["gold", "platinum"]}}, "team": "facturacion"},
        ]
    )
    # The VIP list says +52 1 55…; the customer's wa_id may come without the 1 (Mexico quirk).
    assert decide(cfg, facts(phone="525512345678")).team_id == "cuentas"
    gold = decide(cfg, facts(phone=GOLD_PHONE))
    assert (gold.team_id, gold.reason) == ("facturacion", "customer.tier is 'gold'")
    nobody = decide(cfg, facts(phone="5491199999999"))
    assert nobody.trials[1].why == "customer.tier is unknown, not gold or platinum"


def test_customer_facts_come_from_the_mapping_passed_in() -> None:
    cfg = config([{"when": {"customer": {"tier": "gold"}}, "team": "cuentas"}])
    outcome = route(cfg, facts(phone="5491199999999"), {"tier": "Gold"})
    assert isinstance(outcome, RoutingDecision) and outcome.team_id == "cuentas"


def test_phones_condition_lists_customers_directly() -> None:
    cfg = config([{"when": {"phones": ["+54 9 11 0000-0001"]}, "team": "cuentas"}])
    assert decide(cfg, facts(phone="5491100000001")).team_id == "cuentas"
    assert decide(cfg, facts(phone="5491100000002")).team_id == "soporte"


def test_stage_new_or_returning_customer() -> None:
    cfg = config([{"when": {"stage": "returning"}, "team": "cuentas"}])
    assert decide(cfg, facts(returning=True)).reason == "a returning customer"
    assert decide(cfg, facts(returning=False)).team_id == "soporte"


def test_hours_conditions_use_the_team_schedule() -> None:
    cfg = config([{"when": {"outside_hours": "soporte"}, "team": "guardia", "reply": "Volvemos a las 9."}])
    night = decide(cfg, facts(at=CLOSED_AT))
    assert (night.team_id, night.reply) == ("guardia", "Volvemos a las 9.")
    assert "Thu 2026-11-26 00:00 Europe/Madrid is outside 09:00-18:00" in night.reason
    assert decide(cfg, facts(at=OPEN_AT)).rule == "numbers[0].default_team"


def test_a_closed_team_sends_its_after_hours_reply_and_goes_to_on_call() -> None:
    decision = decide(config(), facts("hola", at=CLOSED_AT))
    assert decision.team_id == "guardia"
    assert decision.chosen_team == "soporte"
    assert decision.reply == "Cerrado: te respondemos mañana."
    assert decision.detail.endswith("soporte is closed → on-call team guardia")
    assert decide(config(), facts("hola", at=OPEN_AT)).reply is None


def test_the_rules_own_reply_wins_over_the_after_hours_reply() -> None:
    cfg = config([{"when": {"keywords": "hola"}, "team": "soporte", "reply": "¡Hola!"}])
    assert decide(cfg, facts("hola", at=CLOSED_AT)).reply == "¡Hola!"


MENU_RULE = {
    "name": "menu",
    "when": {"number": NUMBER},
    "menu": {
        "text": "¿Con quién quieres hablar?",
        "timeout": "10m",
        "options": [
            {"title": "Ventas", "team": "ventas"},
            {"title": "Soporte", "team": "soporte"},
            {"title": "Facturación", "team": "facturacion"},
        ],
    },
}


def test_a_menu_rule_asks_first_then_routes_by_the_answer() -> None:
    cfg = config([{"when": {"vip": True}, "team": "cuentas"}, MENU_RULE])
    asked = route(cfg, facts("hola"), {})
    assert isinstance(asked, MenuPending) and asked.rule.index == 1
    assert asked.menu.body_text().endswith("1. Ventas\n2. Soporte\n3. Facturación")
    answered = decide(cfg, facts("hola", menu_rule=1, menu_answer=3))
    assert (answered.team_id, answered.rule) == ("facturacion", "rules[1]")
    assert answered.reason.startswith("menu answer 3 (Facturación)")
    # A VIP never sees the menu: the earlier rule wins.
    assert decide(cfg, facts("hola", phone=VIP_PHONE)).team_id == "cuentas"


def test_a_menu_without_answer_in_time_lets_the_later_rules_decide() -> None:
    cfg = config([MENU_RULE, {"when": {"keywords": "urgente"}, "team": "guardia"}])
    timed_out = decide(cfg, facts("urgente", menu_rule=0, menu_closed="no answer within 10 min"))
    assert (timed_out.team_id, timed_out.rule) == ("guardia", "rules[1]")
    assert timed_out.trials[0].why == "menu not answered: no answer within 10 min"
    default = decide(cfg, facts("hola", menu_rule=0, menu_closed="no answer within 10 min"))
    assert default.rule == "numbers[0].default_team"


@pytest.mark.parametrize(
    ("text", "choice", "expected"),
    [
        ("2", None, 2),
        ("2.", None, 2),
        (" soporte ", None, 2),
        ("FACTURACION", None, 3),
        ("quiero ventas por favor", None, 1),
        ("", "traza-menu-3", 3),
        ("hola", None, None),
        ("4", None, None),
    ],
)
def test_menu_answers_by_tap_number_or_title(text: str, choice: str | None, expected: int | None) -> None:
    menu = config([MENU_RULE]).rules[0].menu
    assert menu is not None
    option = menu.answer(text, choice)
    assert (option.number if option else None) == expected


def test_explain_lists_every_rule_tried_and_the_outcome() -> None:
    cfg = config([{"name": "vip", "when": {"vip": True}, "team": "cuentas"}])
    lines = explain(decide(cfg, facts("precio")))
    assert lines[0] == "  ✘ rules[0] (vip): the customer is not on the VIP list"
    assert lines[1] == "  ✔ teams[0].keywords (ventas): keyword 'precio'"
    assert lines[-1] == "→ team ventas by teams[0].keywords: keyword 'precio'"


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ([{"when": {"keywords": "x"}}], "routing.rules[0]: needs exactly one of team or menu"),
        ([{"when": {"colour": "red"}, "team": "ventas"}], "routing.rules[0].when.colour: unknown condition"),
        (
            [{"when": {"pattern": "(unclosed"}, "team": "ventas"}],
            "routing.rules[0].when.pattern: not a valid",
        ),
        ([{"team": "nadie"}], "routing.rules[0].team: unknown team 'nadie'"),
        ([{"when": {"within_hours": "ventas"}, "team": "ventas"}], "team 'ventas' has no hours"),
        (
            [{"when": {"stage": "old"}, "team": "ventas"}],
            "routing.rules[0].when.stage: must be new or returning",
        ),
        ([{"when": {"number": "abc"}, "team": "ventas"}], "routing.rules[0].when.number: must be a business"),
        (
            [{"menu": {"text": "?", "options": [{"title": "Solo una", "team": "ventas"}]}}],
            "routing.rules[0].menu.options: must be a list of 2 to 10",
        ),
        (
            [
                {
                    "menu": {
                        "text": "?",
                        "options": [{"title": "Un título demasiado largo", "team": "ventas"}] * 2,
                    }
                }
            ],
            "routing.rules[0].menu.options[0].title: must be at most 20 characters (shown as a button)",
        ),
        ([{"menu": {"text": "?", "timeout": "soon", "options": []}}], "routing.rules[0].menu.timeout"),
    ],
)
def test_bad_rules_are_reported_with_their_key_path(rules: list[dict[str, Any]], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(rules)
    assert any(p.startswith(problem) or problem in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("hours", "problem"),
    [
        (
            {"timezone": "Europe/Madird", "open": {"mon": "09:00-18:00"}},
            "hours.timezone: unknown IANA time zone",
        ),
        ({"timezone": "UTC", "open": {"lun": "09:00-18:00"}}, "hours.open.lun: days must be"),
        ({"timezone": "UTC", "open": {"mon": "18:00-09:00"}}, "hours.open.mon: '18:00-09:00' is not a range"),
        ({"timezone": "UTC", "open": {"mon": "9-18"}}, "hours.open.mon: must be ranges"),
        ({"timezone": "UTC", "open": {"mon": "09:00-18:00"}, "holidays": ["25/12"]}, "hours.holidays[0]"),
        ({"timezone": "UTC", "open": {"mon": "09:00-18:00"}, "on_call_team": "x"}, "hours.on_call_team"),
    ],
)
def test_bad_hours_are_reported_with_their_key_path(hours: dict[str, Any], problem: str) -> None:
    data = yaml.safe_load(BASE)
    data["teams"][0]["hours"] = hours
    with pytest.raises(ConfigError) as caught:
        load_config(data)
    assert any(p.startswith("teams[0]." + problem) for p in caught.value.problems), caught.value.problems


def test_menu_timeout_is_read_as_a_duration() -> None:
    rule = dict(MENU_RULE, menu=dict(MENU_RULE["menu"], timeout="90s"))  # type: ignore[arg-type]
    menu = config([rule]).rules[0].menu
    assert menu is not None and menu.timeout == timedelta(seconds=90)
