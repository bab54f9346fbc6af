"""The assignment rule on its own: fairness over many conversations, capacity, away agents, returns."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bridge.assignment import AssignmentMode, AssignmentPolicy, choose, parse_policy, unanswered_for

AGENTS = ["U0AGENT001", "U0AGENT002", "U0AGENT003", "U0AGENT004"]
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def run(
    policy: AssignmentPolicy, n: int, away: frozenset[str] = frozenset(), closes: float = 0.0
) -> Counter[str]:
    """Assign ``n`` conversations one after another; with ``closes`` some held ones end in between."""
    rng = random.Random(7)
    loads: Counter[str] = Counter()
    total: Counter[str] = Counter()
    last = None
    for _ in range(n):
        decision = choose(policy, AGENTS, loads, set(away), last)
        if decision.agent:
            loads[decision.agent] += 1
            total[decision.agent] += 1
            last = decision.agent
            if policy.capacity:
                assert loads[decision.agent] <= policy.capacity
        for agent in AGENTS:
            if loads[agent] and rng.random() < closes:
                loads[agent] -= 1
    return total


def test_round_robin_spreads_300_conversations_within_one() -> None:
    total = run(AssignmentPolicy(AssignmentMode.ROUND_ROBIN), 300)
    assert sum(total.values()) == 300
    assert max(total.values()) - min(total.values()) <= 1


def test_round_robin_skips_away_agents_and_keeps_the_rest_even() -> None:
    total = run(AssignmentPolicy(AssignmentMode.ROUND_ROBIN), 301, away={"U0AGENT002"})
    assert "U0AGENT002" not in total
    assert sorted(total.values()) == [100, 100, 101]


def test_least_loaded_never_exceeds_capacity_and_waits_when_all_are_full() -> None:
    policy = AssignmentPolicy(AssignmentMode.LEAST_LOADED, capacity=5)
    total = run(policy, 300, closes=0.2)
    assert sum(total.values()) > 100
    decision = choose(policy, AGENTS, dict.fromkeys(AGENTS, 5), set(), None)
    assert decision.agent is None and "capacity" in decision.reason
    assert decision.details["loads"] == dict.fromkeys(AGENTS, 5)


def test_least_loaded_picks_the_lightest_and_rotates_ties() -> None:
    policy = AssignmentPolicy(AssignmentMode.LEAST_LOADED, capacity=5)
    loads = {"U0AGENT001": 3, "U0AGENT002": 1, "U0AGENT003": 1, "U0AGENT004": 4}
    assert choose(policy, AGENTS, loads, set(), None).agent == "U0AGENT002"
    assert choose(policy, AGENTS, loads, set(), "U0AGENT002").agent == "U0AGENT003"
    assert choose(policy, AGENTS, loads, {"U0AGENT002", "U0AGENT003"}, None).agent == "U0AGENT001"


def test_every_decision_explains_itself() -> None:
    decision = choose(
        AssignmentPolicy(AssignmentMode.ROUND_ROBIN), AGENTS, {"U0AGENT001": 2}, {"U0AGENT002"}, "U0AGENT001"
    )
    assert decision.agent == "U0AGENT003"
    assert decision.details["mode"] == "round_robin"
    assert decision.details["candidates"] == AGENTS
    assert decision.details["loads"]["U0AGENT001"] == 2
    assert decision.details["away"] == ["U0AGENT002"]
    assert "round robin" in decision.reason


def test_manual_mode_and_an_empty_team_pick_nobody() -> None:
    assert choose(AssignmentPolicy(), AGENTS, {}, set(), None).agent is None
    assert choose(AssignmentPolicy(AssignmentMode.ROUND_ROBIN), [], {}, set(), None).agent is None


def test_excluded_agent_is_passed_over_after_a_return() -> None:
    policy = AssignmentPolicy(AssignmentMode.ROUND_ROBIN)
    assert choose(policy, AGENTS, {}, set(), "U0AGENT001", {"U0AGENT002"}).agent == "U0AGENT003"


def test_unanswered_conversation_returns_only_after_the_configured_time() -> None:
    policy = AssignmentPolicy(AssignmentMode.MANUAL, return_after_minutes=15)
    asked = NOW - timedelta(minutes=20)
    assert unanswered_for(policy, NOW, None, asked, None) == timedelta(minutes=20)
    assert unanswered_for(policy, NOW, NOW - timedelta(minutes=10), asked, None) is None  # assigned later
    assert unanswered_for(policy, NOW, None, asked, asked + timedelta(minutes=1)) is None  # answered
    assert unanswered_for(policy, NOW, None, NOW - timedelta(minutes=14), None) is None
    assert unanswered_for(AssignmentPolicy(), NOW, None, asked, None) is None  # no return configured


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"mode": "random"}, "teams[0].assignment.mode"),
        ({"mode": "least_loaded", "capacity": 0}, "teams[0].assignment.capacity"),
        ({"mode": "round_robin", "return_after_minutes": -1}, "teams[0].assignment.return_after_minutes"),
        ({"use_presence": "yes"}, "teams[0].assignment.use_presence"),
        ("round_robin", "teams[0].assignment"),
    ],
)
def test_bad_assignment_config_names_the_key(raw: object, problem: str) -> None:
    problems: list[str] = []
    parse_policy(raw, "teams[0].assignment", lambda path, msg: problems.append(f"{path}: {msg}"))
    assert problems and problems[0].startswith(problem + ":")


def test_least_loaded_defaults_to_a_capacity_of_five() -> None:
    policy = parse_policy({"mode": "least_loaded"}, "x", lambda p, m: None)
    assert policy.capacity == 5 and policy.use_presence
