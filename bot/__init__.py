"""The Slack edge of Traza."""
