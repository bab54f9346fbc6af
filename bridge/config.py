"""The teams and routing configuration (``traza.yml``), validated into frozen objects.

``load_config(data)`` takes the already-parsed YAML document (a plain mapping) and either returns a
``TrazaConfig`` or raises ``ConfigError`` whose lines each name the offending key path, for example
``teams[1].slack_channel: required``. Unknown keys are tolerated (more are welcome) but reported by
``ConfigError`` only when they look like typos of known ones is not attempted: they are simply ignored.
The exception is ``sla`` (top level as the default, ``teams[].sla`` per team; ``sla: null`` on a team
turns the default off): a misspelt target there would silently switch an alert off, so it is refused.

Issue 5 keys are parsed by the modules that own their meaning, with the same key paths:
``teams[].assignment`` (``bridge.assignment``), ``canned`` and ``csat`` at the top level or per team
(``bridge.teamtools``), ``routing.rules`` (``bridge.rule_parser``, evaluated by ``bridge.routing``)
and ``teams[].hours`` (``bridge.schedule``). Customer facts for rules come from ``customers:``
(phone → attributes) and ``routing.vip`` (phones that get ``vip: "true"``), read by
``customer_facts``, on top of what CRM lookups said (``store.customer_facts``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bridge.assignment import MANUAL, AssignmentPolicy, parse_policy
from bridge.checking import Checker as _Checker
from bridge.contacts import normalize_phone, phone_variants
from bridge.domain import SlackChannel, SlackUserId, SlaTargets, TeamId, WaPhoneNumberId
from bridge.i18n import LANGUAGES
from bridge.integrations import Enrichment, WebhookEndpoint, load_enrichment, load_webhooks
from bridge.rule_parser import RuleParser
from bridge.rules import Rule
from bridge.schedule import BusinessHours, parse_hours
from bridge.teamtools import NO_CSAT, CannedReply, CsatPolicy, parse_canned, parse_csat

DEFAULT_STAMP = "*{agent} · {team}*\n{text}"
_TEAM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,}$")
DISTRIBUTIONS = ("least_busy", "round_robin")
_SLA_KEYS = {"first_response_minutes": 60.0, "resolution_hours": 3600.0}  # key → seconds per unit


class ConfigError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Team:
    id: TeamId
    name: str
    slack_channels: tuple[SlackChannel, ...]
    """One channel, or several for a large team (new conversations are spread over them)."""
    leads: frozenset[SlackUserId] = frozenset()
    members: frozenset[SlackUserId] = frozenset()
    keywords: tuple[str, ...] = ()
    stamp: str | None = None
    hours: BusinessHours | None = None
    distribute: str = "least_busy"
    assignment: AssignmentPolicy = MANUAL
    canned: tuple[CannedReply, ...] = ()
    csat: CsatPolicy | None = None
    sla: SlaTargets | None = None
    """This team's service-level targets (``teams[].sla``, else the top-level ``sla``)."""

    @property
    def slack_channel(self) -> SlackChannel:
        """The team's first channel: where moves that need one place (transfers' fallback) go."""
        return self.slack_channels[0]

    def is_member(self, user: str) -> bool:
        return user in self.members or user in self.leads


@dataclass(frozen=True, slots=True)
class BusinessNumber:
    phone_number_id: WaPhoneNumberId
    default_team: TeamId | None = None
    name: str | None = None
    waba_id: str | None = None


@dataclass(frozen=True, slots=True)
class TrazaConfig:
    teams: tuple[Team, ...]
    numbers: tuple[BusinessNumber, ...]
    default_team: TeamId
    stamp: str = DEFAULT_STAMP
    admins: frozenset[SlackUserId] = frozenset()
    reopen_grace_minutes: int = 0
    """A customer writing within this many minutes of a close reopens it instead of a new conversation."""
    language: str = "en"
    """What Traza writes in, to agents in Slack and in automatic messages to customers: en, es or pt."""
    webhooks: tuple[WebhookEndpoint, ...] = ()
    enrichment: Enrichment | None = None
    rules: tuple[Rule, ...] = ()
    vip: frozenset[str] = frozenset()
    """Phone digits (with their national variants) of VIP customers (``routing.vip``)."""
    customers: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Static customer facts by phone digits (``customers:``), until a CRM lookup provides them."""
    canned: tuple[CannedReply, ...] = ()
    csat: CsatPolicy = NO_CSAT
    message_bodies_days: int | None = None
    """``retention.message_bodies_days``: message bodies older than this are erased; ``None`` keeps them."""

    def secret_env_names(self) -> list[str]:
        """Environment variables ``traza.yml`` names as holding secrets (webhook and CRM credentials)."""
        names = [w.secret_env for w in self.webhooks]
        if self.enrichment and self.enrichment.token_env:
            names.append(self.enrichment.token_env)
        return names

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def number(self, phone_number_id: str) -> BusinessNumber | None:
        return next((n for n in self.numbers if n.phone_number_id == phone_number_id), None)

    def team_for_channel(self, channel: str) -> Team | None:
        return next((t for t in self.teams if channel in t.slack_channels), None)

    def customer_facts(self, phone: str | None) -> dict[str, str]:
        """What traza.yml knows about the customer with these phone digits (a CRM may add more)."""
        if not phone:
            return {}
        facts: dict[str, str] = {}
        for variant in sorted(phone_variants(phone)):
            facts.update(self.customers.get(variant, {}))
        if phone_variants(phone) & self.vip:
            facts["vip"] = "true"
        return facts

    def business_hours(self) -> dict[str, BusinessHours]:
        """The teams that keep business hours (``teams[].hours``), by id."""
        return {team.id: team.hours for team in self.teams if team.hours is not None}

    def sla_for(self, team_id: str) -> SlaTargets | None:
        team = self.team(team_id)
        return team.sla if team else None

    def stamp_for(self, team_id: str) -> str:
        team = self.team(team_id)
        return team.stamp if team and team.stamp else self.stamp

    def canned_for(self, team_id: str) -> tuple[CannedReply, ...]:
        """The team's canned replies first, then the global ones whose id the team does not reuse."""
        team = self.team(team_id)
        own = team.canned if team else ()
        return own + tuple(c for c in self.canned if all(o.id != c.id for o in own))

    def csat_for(self, team_id: str) -> CsatPolicy:
        team = self.team(team_id)
        return team.csat if team and team.csat else self.csat

    def assignment_for(self, team_id: str) -> AssignmentPolicy:
        team = self.team(team_id)
        return team.assignment if team else MANUAL


def _sla(check: _Checker, raw: object, path: str) -> SlaTargets | None:
    """``{first_response_minutes: 15, resolution_hours: 24}``: positive numbers, known keys only
    (a misspelt key would silently switch a target off, so it is refused)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.fail(path, "must be a mapping like {first_response_minutes: 15, resolution_hours: 24}")
        return None
    for key in raw:
        if key not in _SLA_KEYS:
            check.fail(f"{path}.{key}", f"unknown SLA key; use {' or '.join(sorted(_SLA_KEYS))}")
    limits: dict[str, timedelta | None] = {}
    for key, unit in _SLA_KEYS.items():
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            check.fail(f"{path}.{key}", f"must be a number, got {type(value).__name__}")
            value = None
        elif value is not None and not 0 < value < 1e6:
            check.fail(f"{path}.{key}", f"must be a positive number, got {value!r}")
            value = None
        limits[key] = timedelta(seconds=value * unit) if value is not None else None
    return SlaTargets(limits["first_response_minutes"], limits["resolution_hours"])


def load_config(data: object) -> TrazaConfig:
    """Validate a parsed ``traza.yml`` document; raise ``ConfigError`` naming every bad key."""
    check = _Checker()
    if not isinstance(data, Mapping):
        raise ConfigError(["(top level): must be a mapping with teams, numbers and routing"])
    default_sla = _sla(check, data.get("sla"), "sla")
    teams = _teams(data.get("teams"), check, default_sla)
    team_ids = {t.id for t in teams}
    numbers = _numbers(data.get("numbers"), team_ids, check)
    routing = data.get("routing") or {}
    default_team: str | None = None
    rules: tuple[Rule, ...] = ()
    vip: frozenset[str] = frozenset()
    if not isinstance(routing, Mapping):
        check.fail("routing", "must be a mapping")
    else:
        rules = RuleParser(check, {t.id: t.hours for t in teams}).rules(routing.get("rules"), "routing.rules")
        vip = _phones(check.string_list(routing, "vip", "routing"), "routing.vip", check)
        default_team = check.string(routing, "default_team", "routing")
        if default_team and default_team not in team_ids:
            check.fail("routing.default_team", f"unknown team {default_team!r}")
        grace = routing.get("reopen_grace_minutes", 0)
        if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
            check.fail("routing.reopen_grace_minutes", "must be a whole number of minutes ≥ 0")
            grace = 0
    stamp = data.get("stamp", DEFAULT_STAMP)
    if not isinstance(stamp, str):
        check.fail("stamp", "must be a string")
        stamp = DEFAULT_STAMP
    check.stamp(stamp, "stamp")
    admins = check.users(data, "admins", "(top level)") if "admins" in data else frozenset()
    customers = _customers(data.get("customers"), check)
    _check_on_call(teams, team_ids, check)
    language = data.get("language", "en")
    if language not in LANGUAGES:
        check.fail("language", f"must be one of {', '.join(LANGUAGES)} (got {language!r})")
        language = "en"
    webhooks = load_webhooks(data.get("webhooks"), check.fail)
    enrichment = load_enrichment(data.get("enrichment"), check.fail)
    canned = parse_canned(data.get("canned"), "canned", check.fail)
    csat = parse_csat(data.get("csat"), "csat", check.fail) or NO_CSAT
    bodies_days = _retention(data.get("retention"), check)
    if check.problems:
        raise ConfigError(check.problems)
    assert default_team is not None
    grace_minutes = int(routing.get("reopen_grace_minutes", 0) or 0) if isinstance(routing, Mapping) else 0
    for i, hook in enumerate(webhooks):
        if hook.teams and (unknown := sorted(hook.teams - team_ids)):
            check.fail(f"webhooks[{i}].teams", f"unknown team(s) {unknown}")
    if check.problems:
        raise ConfigError(check.problems)
    return TrazaConfig(
        tuple(teams),
        tuple(numbers),
        TeamId(default_team),
        stamp,
        admins,
        grace_minutes,
        language=str(language),
        rules=rules,
        vip=vip,
        customers=customers,
        webhooks=webhooks,
        enrichment=enrichment,
        canned=canned,
        csat=csat,
        message_bodies_days=bodies_days,
    )


def _retention(raw: object, check: _Checker) -> int | None:
    """``retention: {message_bodies_days: N}``; absent (or N null) keeps bodies forever."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.fail("retention", "must be a mapping like {message_bodies_days: 365}")
        return None
    days = raw.get("message_bodies_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        check.fail("retention.message_bodies_days", f"must be a whole number of days ≥ 1, got {days!r}")
        return None
    return days


def _teams(raw: object, check: _Checker, default_sla: SlaTargets | None = None) -> list[Team]:
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        check.fail("teams", "required: a non-empty list of teams")
        return []
    teams: list[Team] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"teams[{i}]"
        if not isinstance(item, Mapping):
            check.fail(path, "must be a mapping with id, name and slack_channel")
            continue
        team_id = check.string(item, "id", path)
        name = check.string(item, "name", path)
        channels = _channels(item, path, check)
        if team_id and not _TEAM_ID.match(team_id):
            check.fail(f"{path}.id", "must be lowercase letters, digits, '-' or '_' (max 40)")
        if team_id in seen:
            check.fail(f"{path}.id", f"duplicate team id {team_id!r}")
        hours = parse_hours(item.get("hours"), f"{path}.hours", check)
        distribute = check.string(item, "distribute", path, required=False) or "least_busy"
        if distribute not in DISTRIBUTIONS:
            check.fail(f"{path}.distribute", f"must be one of {', '.join(DISTRIBUTIONS)}")
        stamp = check.string(item, "stamp", path, required=False)
        check.stamp(stamp, f"{path}.stamp")
        keywords = tuple(k.casefold() for k in check.string_list(item, "keywords", path) if k)
        leads, members = check.users(item, "leads", path), check.users(item, "members", path)
        sla = _sla(check, item["sla"], f"{path}.sla") if "sla" in item else default_sla
        assignment = parse_policy(item.get("assignment"), f"{path}.assignment", check.fail)
        canned = parse_canned(item.get("canned"), f"{path}.canned", check.fail)
        csat = parse_csat(item.get("csat"), f"{path}.csat", check.fail)
        if team_id and name and channels:
            seen.add(team_id)
            teams.append(
                Team(
                    TeamId(team_id),
                    name,
                    channels,
                    leads,
                    members,
                    keywords,
                    stamp,
                    hours=hours,
                    distribute=distribute,
                    assignment=assignment,
                    canned=canned,
                    csat=csat,
                    sla=sla,
                )
            )
    _check_shared_channels(teams, check)
    return teams


def _channels(item: Mapping[str, Any], path: str, check: _Checker) -> tuple[SlackChannel, ...]:
    """``slack_channel: C1`` and/or ``slack_channels: [C1, C2]``; at least one, no repeats."""
    listed = check.string_list(item, "slack_channels", path)
    single = check.string(item, "slack_channel", path, required=not listed)
    found: list[SlackChannel] = []
    for key, channel in [
        ("slack_channel", single),
        *((f"slack_channels[{i}]", c) for i, c in enumerate(listed)),
    ]:
        if channel is None:
            continue
        if not _CHANNEL.match(channel):
            check.fail(f"{path}.{key}", f"must be a Slack channel id like C0123ABCD, got {channel!r}")
        elif channel not in found:
            found.append(SlackChannel(channel))
    return tuple(found)


def _check_shared_channels(teams: list[Team], check: _Checker) -> None:
    owner: dict[str, str] = {}
    for i, team in enumerate(teams):
        for channel in team.slack_channels:
            if channel in owner and owner[channel] != team.id:
                check.fail(f"teams[{i}]", f"channel {channel} already belongs to team {owner[channel]!r}")
            owner.setdefault(channel, team.id)


def _check_on_call(teams: list[Team], team_ids: set[TeamId], check: _Checker) -> None:
    for i, team in enumerate(teams):
        on_call = team.hours.on_call_team if team.hours else None
        if on_call and on_call not in team_ids:
            check.fail(f"teams[{i}].hours.on_call_team", f"unknown team {on_call!r}")


def _phones(raw: list[str], path: str, check: _Checker) -> frozenset[str]:
    found: set[str] = set()
    for i, text in enumerate(raw):
        digits = normalize_phone(text)
        if digits is None:
            check.fail(f"{path}[{i}]", f"must be a phone number like +5215512345678, got {text!r}")
        else:
            found |= phone_variants(digits)
    return frozenset(found)


def _customers(raw: object, check: _Checker) -> dict[str, dict[str, str]]:
    """``customers: {"+52155…": {tier: gold}}`` → facts by phone digits (and national variants)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        check.fail("customers", "must be a mapping of phone numbers to their attributes")
        return {}
    found: dict[str, dict[str, str]] = {}
    for phone, attributes in raw.items():
        path = f"customers[{phone!r}]"
        digits = normalize_phone(str(phone))
        if digits is None:
            check.fail(path, "must be a phone number like +5215512345678 (quote it in YAML)")
            continue
        if not isinstance(attributes, Mapping) or not all(
            isinstance(v, (str, int, float, bool)) for v in attributes.values()
        ):
            check.fail(path, "must be a mapping of attribute names to plain values, e.g. {tier: gold}")
            continue
        facts = {str(k): (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in attributes.items()}
        for variant in phone_variants(digits):
            found[variant] = facts
    return found


def _numbers(raw: object, team_ids: set[TeamId], check: _Checker) -> list[BusinessNumber]:
    if raw is None:
        return []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        check.fail("numbers", "must be a list")
        return []
    numbers: list[BusinessNumber] = []
    for i, item in enumerate(raw):
        path = f"numbers[{i}]"
        if not isinstance(item, Mapping):
            check.fail(path, "must be a mapping with phone_number_id")
            continue
        pnid = check.string(item, "phone_number_id", path)
        if pnid and not pnid.isdigit():
            check.fail(f"{path}.phone_number_id", "must be the Cloud API phone_number_id (digits)")
        team = check.string(item, "default_team", path, required=False)
        if team and team not in team_ids:
            check.fail(f"{path}.default_team", f"unknown team {team!r}")
        name = check.string(item, "name", path, required=False)
        waba = check.string(item, "waba_id", path, required=False)
        if pnid:
            numbers.append(BusinessNumber(WaPhoneNumberId(pnid), TeamId(team) if team else None, name, waba))
    return numbers
