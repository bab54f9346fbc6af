"""Store-level tests against real SQLite and PostgreSQL databases."""
