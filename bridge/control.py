"""Who may move a conversation, and where: the permission rules of claim, transfer, close, reopen.

From ``traza.yml``: members act on their own team's conversations (claim an unassigned one, close,
reopen, write notes); leads also reassign inside their team and transfer out; admins may do
everything everywhere; the holder may hand their own conversation over. A team without a member list
is open to everyone. Each check returns ``None`` when allowed, else the sentence the asker is told
(and that the history records).
"""

from __future__ import annotations

from bridge.config import Team, TrazaConfig
from bridge.domain import ConversationState, ConversationView
from bridge.i18n import t
from bridge.replies import may_act_in_team


def is_lead(config: TrazaConfig, team_id: str, user: str) -> bool:
    team = config.team(team_id)
    return user in config.admins or (team is not None and user in team.leads)


def team_of_agent(config: TrazaConfig, user: str) -> Team | None:
    """The team an agent belongs to (first listed), for transfers addressed to a person."""
    return next((t for t in config.teams if t.is_member(user)), None)


def check_claim(config: TrazaConfig, view: ConversationView, user: str) -> str | None:
    if view.state is ConversationState.CLOSED:
        return t("#{ref} is closed; reopen it first.", ref=view.ref)
    if not may_act_in_team(config, view.team_id, user):
        return t(
            "#{ref} belongs to team {team}; only its members can claim it.", ref=view.ref, team=view.team_name
        )
    if view.assignee and view.assignee != user and not is_lead(config, view.team_id, user):
        return t(
            "#{ref} is held by <@{holder}>; only a lead of {team} can reassign it.",
            ref=view.ref,
            holder=view.assignee,
            team=view.team_name,
        )
    return None


def speaks_for(config: TrazaConfig, view: ConversationView, user: str) -> bool:
    """The holder, a lead of the team (or an admin), or any member while nobody holds it."""
    if view.assignee == user or is_lead(config, view.team_id, user):
        return True
    return view.assignee is None and may_act_in_team(config, view.team_id, user)


def check_transfer(config: TrazaConfig, view: ConversationView, user: str) -> str | None:
    if view.state is ConversationState.CLOSED:
        return t("#{ref} is closed; reopen it before transferring.", ref=view.ref)
    if speaks_for(config, view, user):
        return None
    return t(
        "Only the holder of #{ref} or a lead of {team} can transfer it.", ref=view.ref, team=view.team_name
    )


def check_close(config: TrazaConfig, view: ConversationView, user: str) -> str | None:
    if view.state is ConversationState.CLOSED:
        return t("#{ref} is already closed.", ref=view.ref)
    if speaks_for(config, view, user):
        return None
    return t("Only the holder of #{ref} or a lead of {team} can close it.", ref=view.ref, team=view.team_name)


def check_reopen(config: TrazaConfig, view: ConversationView, user: str) -> str | None:
    if view.state is not ConversationState.CLOSED:
        return t("#{ref} is not closed.", ref=view.ref)
    if not may_act_in_team(config, view.team_id, user):
        return t(
            "#{ref} belongs to team {team}; only its members can reopen it.",
            ref=view.ref,
            team=view.team_name,
        )
    return None


def check_note(config: TrazaConfig, view: ConversationView, user: str) -> str | None:
    if may_act_in_team(config, view.team_id, user):
        return None
    return t(
        "#{ref} belongs to team {team}; only its members can add notes.", ref=view.ref, team=view.team_name
    )


def visible_teams(config: TrazaConfig, user: str) -> set[str] | None:
    """Teams whose conversations ``user`` may search; ``None`` means all (admins)."""
    if user in config.admins:
        return None
    return {t.id for t in config.teams if not (t.members or t.leads) or t.is_member(user)}
