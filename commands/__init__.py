"""Slash commands, buttons, shortcuts and modals as one registry: parsing, permissions, answers."""

from commands import lookup, moves, team  # noqa: F401  (importing registers the verbs)
from commands.registry import ALL_COMMANDS, VERBS, Desk, help_text, run

__all__ = ["ALL_COMMANDS", "VERBS", "Desk", "help_text", "run"]
