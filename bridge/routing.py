"""Routing v1: which team owns a new conversation, and which rule decided it.

Order (first match wins): keywords of the first message (whole words, case- and accent-insensitive),
then the business number's ``default_team``, then ``routing.default_team``. The decision is returned
with the rule's name so the history can explain it.

Why keywords come before the number's team: a number's ``default_team`` matches every message, so
checking it first would make every team's ``keywords`` dead configuration on any number that has a
default (SPEC §3's own example would never route "precio" to ventas). A keyword is the more specific
rule, so it wins; the number's team is the fallback for messages without one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bridge.config import TrazaConfig
from bridge.domain import TeamId


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    team_id: TeamId
    rule: str
    detail: str = ""


def fold(text: str) -> str:
    """Lowercase and strip accents so ``Cotización`` matches the keyword ``cotizacion``."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def route(config: TrazaConfig, phone_number_id: str, first_text: str | None) -> RoutingDecision:
    if first_text:
        words = set(re.findall(r"\w+", fold(first_text)))
        folded = fold(first_text)
        for team in config.teams:
            for keyword in team.keywords:
                key = fold(keyword)
                if key in words or (" " in key and key in folded):
                    return RoutingDecision(team.id, "keyword", f"keyword {keyword!r}")
    number = config.number(phone_number_id)
    if number and number.default_team:
        return RoutingDecision(number.default_team, "number", f"business number {phone_number_id}")
    return RoutingDecision(config.default_team, "default", "routing.default_team")
