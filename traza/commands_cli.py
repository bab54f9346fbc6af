"""What each ``traza`` sub-command does once settings and ``traza.yml`` are read."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import select

from bridge.config import TrazaConfig
from store import events
from store.db import create_engine
from store.migrate import upgrade, upgrade_async
from store.tables import conversations, message_links
from store.tables import events as events_table
from traza.settings import Settings

log = logging.getLogger("traza")


def _require_credentials(settings: Settings, config: TrazaConfig) -> None:
    from traza import logs
    from traza.cli import StartupError

    names = config.secret_env_names()
    if missing := settings.missing_for_serve() + settings.missing_named(names):
        raise StartupError(missing)
    logs.mask_more(settings.named_secrets(names).values())


def migrate(settings: Settings) -> int:
    upgrade(settings.database_url)
    print(f"traza: database schema is up to date ({_safe_url(settings.database_url)})")
    return 0


def serve(settings: Settings, config: TrazaConfig, args: argparse.Namespace) -> int:
    import uvicorn

    from traza.app import create_app

    _require_credentials(settings, config)
    upgrade(settings.database_url)
    app = create_app(settings, config, with_worker=not args.no_worker)
    host = args.host or settings.host
    port = args.port or settings.port
    log.info(
        "Traza listening on http://%s:%d (%s)", host, port, "HTTP only" if args.no_worker else "with worker"
    )
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    return 0


def sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """Traza with local stand-ins for Slack and WhatsApp and the web console (no credentials needed)."""
    from traza.sandbox import runner

    return runner.run(settings, args)


def worker(settings: Settings, config: TrazaConfig) -> int:
    _require_credentials(settings, config)
    upgrade(settings.database_url)
    asyncio.run(_run_worker(settings, config))
    return 0


async def _run_worker(settings: Settings, config: TrazaConfig) -> None:
    from traza.app import _start
    from traza.cli import install_stop_handlers

    stop = asyncio.Event()
    install_stop_handlers(asyncio.get_running_loop(), stop)
    runtime = await _start(settings, config, True, stop)
    log.info("Traza worker started (%s)", runtime.worker.holder if runtime.worker else "?")
    try:
        await stop.wait()
    finally:
        await runtime.shutdown(stop)


async def audit_verify(settings: Settings, ref: int | None) -> int:
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            broken = await events.verify(conn, ref)
            count = len(
                (
                    await conn.execute(
                        select(events_table.c.seq).where(events_table.c.ref == ref)
                        if ref is not None
                        else select(events_table.c.seq)
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    scope = f"conversation {ref}" if ref is not None else "the history"
    if broken is not None:
        print(f"traza: audit FAILED for {scope}: event {broken.seq}: {broken.reason}", file=sys.stderr)
        return 1
    print(f"traza: audit OK: {count} event(s) of {scope} verified, chain intact")
    return 0


async def export(settings: Settings, args: argparse.Namespace) -> int:
    since, until = _date(args.since), _date(args.until)
    if args.what == "metrics":
        return await _export_metrics(settings, args, since, until)
    table, time_column = {
        "conversations": (conversations, conversations.c.opened_at),
        "messages": (message_links, message_links.c.sent_at),
        "events": (events_table, events_table.c.occurred_at),
    }[args.what]
    query = select(table).order_by(time_column)
    if since:
        query = query.where(time_column >= since)
    if until:
        query = query.where(time_column < until)
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings().all()]
    finally:
        await engine.dispose()
    columns = [c.name for c in table.columns if c.name != "payload" or args.what == "events"]
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as out:  # noqa: ASYNC230 (end of a CLI run)
            _write(out, rows, args.format, columns)
    else:
        _write(sys.stdout, rows, args.format, columns)
    return 0


async def _export_metrics(
    settings: Settings, args: argparse.Namespace, since: datetime | None, until: datetime | None
) -> int:
    """Metrics of the period as JSON, or as CSV rows ``metric,value`` (nested keys joined with dots)."""
    from store.reports import metrics

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            data = await metrics(conn, since=since, until=until, team=args.team)
    finally:
        await engine.dispose()
    out = io.StringIO()
    if args.format == "json":
        json.dump(data, out, ensure_ascii=False, indent=1, default=str)
        out.write("\n")
    else:
        writer = csv.writer(out)
        writer.writerow(["metric", "value"])
        writer.writerows(_flatten(data))
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, out.getvalue(), encoding="utf-8")
    else:
        sys.stdout.write(out.getvalue())
    return 0


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [row for k, v in value.items() for row in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [row for i, v in enumerate(value) for row in _flatten(v, f"{prefix}{i}.")]
    return [(prefix.rstrip("."), value)]


def _write(out: TextIO, rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    def cell(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    if fmt == "json":
        json.dump([{c: cell(r.get(c)) for c in columns} for r in rows], out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])


def _date(text: str | None) -> datetime | None:
    from traza.cli import StartupError

    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise StartupError([f"--since/--until: {text!r} is not a date like 2026-11-01"]) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _safe_url(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
