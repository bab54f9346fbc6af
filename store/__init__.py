"""Persistence: SQLAlchemy tables, the append-only event log, the durable job queue, Alembic
migrations, and the Redis adapters (dedupe, locks, wake-ups, pacing) with their in-process twins."""
