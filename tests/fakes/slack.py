"""The fake Slack Web API ships with the sandbox (:mod:`traza.sandbox.fakes.slack`); tests import it here."""

from traza.sandbox.fakes.slack import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, Call, FakeSlack

__all__ = ["APP_ID", "BOT_ID", "BOT_USER_ID", "TEAM_ID", "Call", "FakeSlack"]
