"""Stateful fake Slack Web API and WhatsApp Graph API servers for tests and the local sandbox."""
