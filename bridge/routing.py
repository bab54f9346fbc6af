"""Routing: which team owns a new conversation, which rule decided it and why the others did not.

``route(config, facts, customer)`` is pure (no I/O; the instant is in ``facts.at``). Rules are
tried in order and the first that matches wins:

1. ``routing.rules[0..n]`` as written (see ``bridge.rules`` for the conditions);
2. then the implicit rules the older keys stand for, in this order: every team's ``keywords``
   (``teams[i].keywords``, in team order), the business number's team
   (``numbers[i].default_team``) and finally ``routing.default_team``, which always matches.

Why keywords come before the number's team: a number's ``default_team`` matches every message, so
checking it first would make every team's ``keywords`` dead configuration on any number that has a
default. A keyword is the more specific rule, so it wins.

A rule with a ``menu`` does not decide by itself: the first time it is reached the answer is
``MenuPending`` (ask the customer, hold the conversation); routed again with the customer's choice
in ``facts.menu_answer`` it sends the conversation to the chosen option's team, and once the menu
timed out (``facts.menu_closed``) it no longer matches, so the rules after it (at the latest
``routing.default_team``) decide.

Then the chosen team's business hours apply: outside them the team's ``after_hours_reply`` is sent
(unless the rule has its own ``reply``) and, when it names an ``on_call_team``, the conversation
goes there instead. Every step is kept in the decision so the history can explain it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from bridge.config import TrazaConfig
from bridge.domain import TeamId
from bridge.rules import Keywords, Menu, MenuOption, RoutingFacts, Rule, fold, human_duration

__all__ = ["MenuPending", "RoutingDecision", "RoutingFacts", "Trial", "explain", "fold", "route"]


@dataclass(frozen=True, slots=True)
class Trial:
    """One rule tried: its label (``rules[2] (vip)``, ``teams[0].keywords``…), and why (not)."""

    rule: str
    matched: bool
    why: str


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    team_id: TeamId
    rule: str
    """Key path of the deciding rule: ``rules[2]``, ``teams[0].keywords``, ``routing.default_team``."""
    reason: str
    name: str | None = None
    trials: tuple[Trial, ...] = ()
    reply: str | None = None
    """An automatic reply to send the customer (the rule's ``reply`` or the team's after-hours one)."""
    closed: str | None = None
    """Why the team the rule chose is closed now, when its hours apply."""
    chosen_team: TeamId | None = None
    """The team the rule chose, when it is closed and its on-call team took over."""

    @property
    def label(self) -> str:
        return self.rule + (f" ({self.name})" if self.name else "")

    @property
    def detail(self) -> str:
        """The one line the card and ``conversations.routing_rule`` show."""
        text = self.reason
        if self.chosen_team:
            text += f"; {self.chosen_team} is closed → on-call team {self.team_id}"
        elif self.closed:
            text += "; outside business hours"
        return text


@dataclass(frozen=True, slots=True)
class MenuPending:
    """Ask the customer the menu of ``rule`` first; routing resumes with the answer (or its timeout)."""

    rule: Rule
    menu: Menu
    trials: tuple[Trial, ...]

    @property
    def label(self) -> str:
        return self.rule.label


EMPTY: Mapping[str, str] = {}


def route(
    config: TrazaConfig, facts: RoutingFacts, customer: Mapping[str, str] = EMPTY
) -> RoutingDecision | MenuPending:
    """Try the rules in order; ``customer`` holds the customer's facts (``tier``, ``vip``…)."""
    trials: list[Trial] = []
    for rule in config.rules:
        matched, why = _test(rule, facts, customer)
        if not matched:
            trials.append(Trial(rule.label, False, why))
            continue
        if rule.menu is None:
            assert rule.team is not None
            trials.append(Trial(rule.label, True, why))
            return _decided(config, facts, rule.team, f"rules[{rule.index}]", why, trials, rule)
        step = _menu_step(rule, rule.menu, facts)
        if step is None:
            return MenuPending(rule, rule.menu, tuple(trials))
        if isinstance(step, str):
            trials.append(Trial(rule.label, False, step))
            continue
        reason = f"menu answer {step.number} ({step.title})" + ("" if why == ALWAYS else f"; {why}")
        trials.append(Trial(rule.label, True, reason))
        return _decided(config, facts, step.team, f"rules[{rule.index}]", reason, trials, rule)
    return _implicit(config, facts, trials)


ALWAYS = "no conditions: always matches"


def _test(rule: Rule, facts: RoutingFacts, customer: Mapping[str, str]) -> tuple[bool, str]:
    reasons = []
    for condition in rule.conditions:
        matched, why = condition.test(facts, customer)
        if not matched:
            return False, why
        reasons.append(why)
    return True, "; ".join(reasons) or ALWAYS


def _menu_step(rule: Rule, menu: Menu, facts: RoutingFacts) -> MenuOption | str | None:
    """``None``: ask now; a ``MenuOption``: the answer; a ``str``: why the menu no longer decides."""
    if facts.menu_rule is None:
        return None
    if facts.menu_rule != rule.index:
        return f"the customer was asked another menu (rules[{facts.menu_rule}])"
    if facts.menu_answer is not None:
        option = next((o for o in menu.options if o.number == facts.menu_answer), None)
        return option or f"answer {facts.menu_answer} is no longer an option of this menu"
    return f"menu not answered: {facts.menu_closed or 'no answer'}"


def _implicit(config: TrazaConfig, facts: RoutingFacts, trials: list[Trial]) -> RoutingDecision:
    for i, team in enumerate(config.teams):
        if not team.keywords:
            continue
        label = f"teams[{i}].keywords"
        matched, why = Keywords(team.keywords).test(facts, EMPTY)
        trials.append(Trial(f"{label} ({team.id})", matched, why))
        if matched:
            return _decided(config, facts, team.id, label, why, trials)
    for i, number in enumerate(config.numbers):
        if number.phone_number_id != facts.phone_number_id:
            continue
        label = f"numbers[{i}].default_team"
        if number.default_team:
            why = f"business number {facts.phone_number_id}"
            trials.append(Trial(label, True, why))
            return _decided(config, facts, number.default_team, label, why, trials)
        trials.append(Trial(label, False, f"business number {facts.phone_number_id} has no default_team"))
    why = "no rule before it matched"
    trials.append(Trial("routing.default_team", True, why))
    return _decided(config, facts, config.default_team, "routing.default_team", why, trials)


def _decided(
    config: TrazaConfig,
    facts: RoutingFacts,
    team_id: TeamId,
    rule: str,
    reason: str,
    trials: list[Trial],
    source: Rule | None = None,
) -> RoutingDecision:
    decision = RoutingDecision(
        team_id,
        rule,
        reason,
        source.name if source else None,
        tuple(trials),
        source.reply if source else None,
    )
    team = config.team(team_id)
    if team is None or team.hours is None:
        return decision
    opening = team.hours.status(facts.at)
    if opening.open:
        return decision
    decision = replace(decision, closed=opening.why, reply=decision.reply or team.hours.after_hours_reply)
    on_call = team.hours.on_call_team
    if on_call and on_call != team_id:
        decision = replace(decision, team_id=on_call, chosen_team=team_id)
    return decision


def explain(outcome: RoutingDecision | MenuPending, skip: int = 0) -> list[str]:
    """Human lines: each rule tried (after the first ``skip``), why it did (not) match, the outcome."""
    lines = [f"  {'✔' if t.matched else '✘'} {t.rule}: {t.why}" for t in outcome.trials[skip:]]
    if isinstance(outcome, MenuPending):
        options = ", ".join(f"{o.number} {o.title} → {o.team}" for o in outcome.menu.options)
        waits = human_duration(outcome.menu.timeout)
        lines.append(f"  ? {outcome.label}: asks the menu ({options}); waits up to {waits}")
        return lines
    lines.append(f"→ team {outcome.team_id} by {outcome.label}: {outcome.detail}")
    if outcome.closed:
        lines.append(f"  business hours: {outcome.closed}")
    if outcome.reply:
        lines.append(f"  automatic reply to the customer: {outcome.reply!r}")
    return lines
