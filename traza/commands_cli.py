"""What each ``traza`` sub-command does once settings and ``traza.yml`` are read."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import logging
import sys
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from tqdm import tqdm

from bridge.config import TrazaConfig
from bridge.schedule import BusinessHours
from store import events
from store.db import create_engine
from store.migrate import upgrade, upgrade_async
from store.tables import conversations, message_links
from store.tables import events as events_table
from traza.settings import Settings

log = logging.getLogger("traza")
EXPORT_BATCH = 1000


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


def worker(settings: Settings, config: TrazaConfig, metrics_port: int | None = None) -> int:
    _require_credentials(settings, config)
    upgrade(settings.database_url)
    asyncio.run(_run_worker(settings, config, metrics_port))
    return 0


async def _run_worker(settings: Settings, config: TrazaConfig, metrics_port: int | None) -> None:
    from aiohttp import web

    from traza.app import _start, prometheus_exposition
    from traza.cli import install_stop_handlers

    stop = asyncio.Event()
    install_stop_handlers(asyncio.get_running_loop(), stop)
    runtime = await _start(settings, config, True, stop)
    log.info("Traza worker started (%s)", runtime.worker.holder if runtime.worker else "?")
    runner: web.AppRunner | None = None
    if metrics_port:
        # A worker has no HTTP server of its own; its process counters need one to be scraped.
        async def metrics(_request: web.Request) -> web.Response:
            body = await prometheus_exposition(runtime)
            return web.Response(text=body, content_type="text/plain", charset="utf-8")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.host, metrics_port).start()
        log.info("worker metrics on http://%s:%d/metrics", settings.host, metrics_port)
    try:
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        await runtime.shutdown(stop)


async def audit_verify(settings: Settings, ref: int | None) -> int:
    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            broken = await events.verify(conn, ref)
            erased = await events.count_erased(conn, ref)
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
    note = f" ({erased} with an erased body, each matching its recorded erasure)" if erased else ""
    print(f"traza: audit OK: {count} event(s) of {scope} verified{note}, chain intact")
    return 0


async def forget(settings: Settings, args: argparse.Namespace) -> int:
    """Erase a customer's personal data (``--dry-run``: only say what would go)."""
    from bridge.errors import InvalidInput
    from store.forget import forget_customer

    await upgrade_async(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        done = await forget_customer(
            engine, args.phone, actor=args.by, now=datetime.now(UTC), dry_run=args.dry_run
        )
    except InvalidInput as exc:
        print(f"traza: forget: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    if done is None:
        print(f"traza: forget: no customer with phone {args.phone} (nothing erased)", file=sys.stderr)
        return 1
    if done.already_forgotten:
        print(f"traza: forget: +{done.digits} was already forgotten; nothing left to erase")
        return 0
    verb = "would erase" if args.dry_run else "erased"
    refs = ", ".join(f"#{r}" for r in done.refs) or "none"
    print(
        f"traza: forget +{done.digits}: {verb} {len(done.contact_ids)} contact(s) (name, phone, ids), "
        f"{done.links} message(s) with their media references, the bodies of {done.events} event(s) "
        f"and {done.webhooks} raw webhook(s); conversations kept: {refs}"
    )
    if done.recorded_seq is not None:
        print(f"traza: forget: recorded as event {done.recorded_seq} (CustomerDataErased by {args.by})")
    return 0


async def export(
    settings: Settings, args: argparse.Namespace, hours: Mapping[str, BusinessHours] | None = None
) -> int:
    since, until = _date(args.since), _date(args.until)
    if args.what == "metrics":
        return await _export_metrics(settings, args, since, until, hours)
    table, time_column = {
        "conversations": (conversations, conversations.c.opened_at),
        "messages": (message_links, message_links.c.sent_at),
        "events": (events_table, events_table.c.occurred_at),
    }[args.what]
    query = select(table).order_by(time_column, *table.primary_key.columns)
    if since:
        query = query.where(time_column >= since)
    if until:
        query = query.where(time_column < until)
    columns = [c.name for c in table.columns if c.name != "payload" or args.what == "events"]
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            total = int(await conn.scalar(select(func.count()).select_from(query.subquery())) or 0)
            if args.output:
                with open(args.output, "w", encoding="utf-8", newline="") as out:  # noqa: ASYNC230 (a CLI run)
                    await _stream(conn, query, out, args, columns, total)
            else:
                await _stream(conn, query, sys.stdout, args, columns, total)
    finally:
        await engine.dispose()
    return 0


async def _stream(
    conn: AsyncConnection, query: Any, out: TextIO, args: argparse.Namespace, columns: list[str], total: int
) -> None:
    """Write rows as they come from the database, ticking a progress bar on standard error."""
    show = args.progress if getattr(args, "progress", None) is not None else sys.stderr.isatty()
    writer = RowWriter(out, args.format, columns)
    with tqdm(
        total=total,
        unit="row",
        desc=f"export {args.what}",
        file=sys.stderr,
        disable=not show,
        delay=0 if getattr(args, "progress", None) else 0.5,  # short exports draw nothing on a terminal
        leave=True,  # the final count stays on the terminal
    ) as bar:
        result = await conn.stream(query.execution_options(yield_per=EXPORT_BATCH))
        async for rows in result.mappings().partitions(EXPORT_BATCH):
            for row in rows:
                writer.write(dict(row))
            bar.update(len(rows))
    writer.close()


async def _export_metrics(
    settings: Settings,
    args: argparse.Namespace,
    since: datetime | None,
    until: datetime | None,
    hours: Mapping[str, BusinessHours] | None = None,
) -> int:
    """Metrics of the period as JSON, or as CSV rows ``metric,value`` (nested keys joined with dots)."""
    from store.reports import metrics

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            data = await metrics(conn, since=since, until=until, team=args.team, hours=hours)
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


class RowWriter:
    """CSV (a header, then one line per row) or JSON (one array, ``indent=1``), row by row: the same
    bytes ``json.dump(rows, indent=1)`` would give, without holding the export in memory."""

    def __init__(self, out: TextIO, fmt: str, columns: list[str]) -> None:
        self.out, self.fmt, self.columns, self.count = out, fmt, columns, 0
        self.csv = csv.writer(out) if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writerow(columns)

    def write(self, row: dict[str, Any]) -> None:
        cells = [_cell(row.get(c)) for c in self.columns]
        if self.csv is not None:
            self.csv.writerow(cells)
        else:
            item = json.dumps(dict(zip(self.columns, cells, strict=True)), ensure_ascii=False, indent=1)
            self.out.write(("[\n" if self.count == 0 else ",\n") + textwrap.indent(item, " ", lambda _: True))
        self.count += 1

    def close(self) -> None:
        if self.csv is None:
            self.out.write("[]\n" if self.count == 0 else "\n]\n")


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


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
