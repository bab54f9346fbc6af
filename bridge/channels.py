"""Which of a team's Slack channels a new card goes to, when a large team has several.

Slack paces posts per channel (about one a second), so a team that receives more new conversations
than that spreads them over ``teams[].slack_channels``. ``least_busy`` (the default) picks the
channel with the fewest conversations not yet closed, ties broken by the conversation's id so equal
channels take turns; ``round_robin`` takes turns by id alone. Both are deterministic for one id.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.config import Team
from bridge.domain import SlackChannel


def pick_channel(team: Team, open_counts: Mapping[str, int], seed: int) -> SlackChannel:
    channels = team.slack_channels
    if len(channels) == 1:
        return channels[0]
    if team.distribute == "round_robin":
        return channels[seed % len(channels)]
    least = min(open_counts.get(c, 0) for c in channels)
    calm = [c for c in channels if open_counts.get(c, 0) == least]
    return calm[seed % len(calm)]
