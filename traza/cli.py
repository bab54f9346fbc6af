"""The ``traza`` command line: serve, worker, migrate, audit verify, export, forget, sandbox.

Start-up problems (settings, ``traza.yml``) print one ``traza: …`` line each and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

import yaml

from bridge.config import ConfigError, TrazaConfig, load_config
from traza import logs, routes_cli
from traza.settings import Settings, SettingsError

log = logging.getLogger("traza")


class StartupError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_config(path: Path) -> TrazaConfig:
    if not path.is_file():
        raise StartupError(
            [
                f"TRAZA_CONFIG: {path} does not exist; copy traza.example.yml to {path} and set your teams "
                "(or point TRAZA_CONFIG at your file)"
            ]
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise StartupError([f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})"]) from exc
    try:
        return load_config(data)
    except ConfigError as exc:
        raise StartupError([f"{path}: {p}" for p in exc.problems]) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="traza", description="WhatsApp conversations run from Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="HTTP server (webhooks, Slack, API) plus an in-process worker")
    serve.add_argument("--no-worker", action="store_true", help="serve HTTP only; run `traza worker` apart")
    serve.add_argument("--host", help="listen address (default TRAZA_HOST)")
    serve.add_argument("--port", type=int, help="listen port (default TRAZA_PORT)")
    worker = sub.add_parser("worker", help="worker only, for deployments with several processes")
    worker.add_argument(
        "--metrics-port", type=int, help="serve this process's Prometheus /metrics on TRAZA_HOST:PORT"
    )
    sub.add_parser("migrate", help="bring the database schema up to date")
    sandbox = sub.add_parser(
        "sandbox", help="try Traza locally: stand-ins for Slack and WhatsApp plus a web console"
    )
    sandbox.add_argument("--dir", default=".traza-sandbox", help="data directory (default ./.traza-sandbox)")
    sandbox.add_argument("--host", default="127.0.0.1", help="listen address of Traza and the console")
    sandbox.add_argument(
        "--port", type=int, default=8080, help="console port (default 8080; 0: any free port)"
    )
    sandbox.add_argument("--traza-port", type=int, default=0, help="Traza's own port (default: any free)")
    audit = sub.add_parser("audit", help="the tamper-evident history")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check the hash chain; exit 0 when intact")
    verify.add_argument("--ref", type=int, help="only the events of conversation REF")
    routes_cli.add_parser(sub)
    export = sub.add_parser("export", help="conversations, messages, events or metrics as CSV/JSON")
    export.add_argument("what", choices=["conversations", "messages", "events", "metrics"])
    export.add_argument("--team", help="metrics of one team only")
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--since", help="start date (YYYY-MM-DD or ISO time, UTC)")
    export.add_argument("--until", help="end date, exclusive (YYYY-MM-DD or ISO time, UTC)")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    forget = sub.add_parser("forget", help="erase a customer's personal data on request")
    forget.add_argument("phone", help="the customer's phone, e.g. +52 1 55 1234 5678")
    forget.add_argument("--by", default="cli", help="who asked for it, recorded in the history")
    forget.add_argument("--dry-run", action="store_true", help="show what would be erased; change nothing")
    export.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on standard error (default: only when standard error is a terminal)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        return _fail(exc.problems)
    logs.configure(settings.log_level, settings.secrets(), mask_phones=settings.log_mask_phones)
    try:
        return _dispatch(args, settings)
    except StartupError as exc:
        return _fail(exc.problems)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `traza export … | head`
        return 0


def _fail(problems: list[str]) -> int:
    for problem in problems:
        print(f"traza: {problem}", file=sys.stderr)
    return 2


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from traza import commands_cli

    match args.command:
        case "migrate":
            return commands_cli.migrate(settings)
        case "sandbox":
            return commands_cli.sandbox(settings, args)
        case "serve":
            return commands_cli.serve(settings, read_config(settings.config_path), args)
        case "worker":
            return commands_cli.worker(settings, read_config(settings.config_path), args.metrics_port)
        case "audit":
            return asyncio.run(commands_cli.audit_verify(settings, args.ref))
        case "export":
            # Business-time durations need the teams' hours; an export works without traza.yml too.
            wants_hours = args.what == "metrics" and settings.config_path.is_file()
            hours = read_config(settings.config_path).business_hours() if wants_hours else None
            return asyncio.run(commands_cli.export(settings, args, hours))
        case "forget":
            return asyncio.run(commands_cli.forget(settings, args))
        case "routes":
            return _routes_test(read_config(settings.config_path), args)
    return 2


def _routes_test(config: TrazaConfig, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    try:
        lines = routes_cli.test_route(config, args, datetime.now(UTC))
    except routes_cli.RouteArgsError as exc:
        raise StartupError([str(exc)]) from exc
    print("\n".join(lines))
    return 0


def install_stop_handlers(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


if __name__ == "__main__":
    # Run the imported module's main: under ``python -m traza.cli`` this file is ``__main__``, and
    # its StartupError would not be the one the sub-commands raise.
    from traza.cli import main as module_main

    raise SystemExit(module_main())
