"""``traza routes test "<message>" --number ID [--at TIME] [--from +PHONE]``: where a message would go.

Reads only ``traza.yml`` (no database, no credentials) and prints every rule tried in order with
why it did or did not match, then the team, the rule that decided and the card's channel(s). A
rule with a menu prints the menu, then what happens with ``--answer N`` or when nobody answers.
Bad arguments print one ``traza: …`` line and exit 2; a successful test exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.config import TrazaConfig
from bridge.contacts import normalize_phone
from bridge.routing import MenuPending, RoutingDecision, explain, route
from bridge.rules import RoutingFacts, human_duration


class RouteArgsError(ValueError):
    """A bad ``traza routes test`` argument; the message names it."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = sub.add_parser("routes", help="check the routing rules of traza.yml")
    routes_sub = routes.add_subparsers(dest="routes_command", required=True)
    test = routes_sub.add_parser("test", help="show which rule would route a first message, and why")
    test.add_argument("message", help="the customer's first message")
    test.add_argument("--number", required=True, help="business phone_number_id the message arrives on")
    test.add_argument(
        "--at",
        help="when (ISO time, e.g. 2026-12-24T22:30Z or '2026-12-24 22:30 Europe/Madrid'; default now)",
    )
    test.add_argument(
        "--from", dest="phone", help="the customer's phone (+country number), for VIP and customer facts"
    )
    test.add_argument("--returning", action="store_true", help="the customer had conversations before")
    test.add_argument("--answer", type=int, help="the customer's answer (option number) to a routing menu")


def parse_at(text: str | None, now: datetime) -> datetime:
    if not text:
        return now
    zone = None
    head, _, last = text.strip().rpartition(" ")
    if "/" in last or last.upper() == "UTC":
        try:
            zone = ZoneInfo(last if last.upper() != "UTC" else "UTC")
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise RouteArgsError(f"--at: unknown time zone {last!r}") from exc
        text = head
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise RouteArgsError(f"--at: {text!r} is not a time like 2026-12-24T22:30Z") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or UTC)
    elif zone is not None:
        raise RouteArgsError("--at: give either an offset or a time zone name, not both")
    return moment


def facts_from(config: TrazaConfig, args: argparse.Namespace, now: datetime) -> RoutingFacts:
    number = str(args.number).strip()
    if config.numbers and config.number(number) is None:
        known = ", ".join(n.phone_number_id for n in config.numbers)
        raise RouteArgsError(f"--number {number}: not a business number in traza.yml (known: {known})")
    if not number.isdigit():
        raise RouteArgsError(f"--number {number!r}: must be the Cloud API phone_number_id (digits)")
    phone = None
    if args.phone:
        phone = normalize_phone(args.phone)
        if phone is None:
            raise RouteArgsError(f"--from {args.phone!r}: not a phone number (use +country and number)")
    return RoutingFacts(number, args.message, parse_at(args.at, now), phone, bool(args.returning))


def test_route(config: TrazaConfig, args: argparse.Namespace, now: datetime) -> list[str]:
    facts = facts_from(config, args, now)
    customer = config.customer_facts(facts.phone)
    stage = "returning" if facts.returning else "new"
    lines = [
        f"Message: {facts.text!r} on number {facts.phone_number_id} at {facts.at.isoformat()}",
        f"Customer: {'+' + facts.phone if facts.phone else 'unknown phone'} ({stage}); facts: "
        + (", ".join(f"{k}={v}" for k, v in sorted(customer.items())) or "none"),
        "Rules tried, in order:",
    ]
    outcome = route(config, facts, customer)
    lines += explain(outcome)
    if isinstance(outcome, MenuPending):
        index, asked = outcome.rule.index, len(outcome.trials)
        if args.answer is not None:
            if not any(o.number == args.answer for o in outcome.menu.options):
                raise RouteArgsError(
                    f"--answer {args.answer}: the menu has options 1-{len(outcome.menu.options)}"
                )
            then = dataclasses.replace(facts, menu_rule=index, menu_answer=args.answer)
            lines.append(f"With the answer {args.answer}:")
        else:
            waited = f"no answer within {human_duration(outcome.menu.timeout)}"
            then = dataclasses.replace(facts, menu_rule=index, menu_closed=waited)
            lines.append("If nobody answers in time (use --answer N to try an answer):")
        outcome = route(config, then, customer)
        lines += explain(outcome, skip=asked)
    assert isinstance(outcome, RoutingDecision)
    team = config.team(outcome.team_id)
    if team is not None and len(team.slack_channels) > 1:
        lines.append(f"  card in one of {', '.join(team.slack_channels)} ({team.distribute})")
    elif team is not None:
        lines.append(f"  card in {team.slack_channel}")
    return lines
