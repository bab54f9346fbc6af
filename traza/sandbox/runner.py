"""``traza sandbox``: the real Traza on SQLite, no Redis, talking to local stand-ins of the Slack Web
API and the Graph API, plus the web console that plays the customer and the Slack users.

Everything starts in one process: the stand-ins and the console serve from background threads (each
owned by a ``ServerThread``, stopped on exit), Traza itself serves from the main thread exactly as
``traza serve`` does. Only the base URLs and the generated sandbox secrets differ from production.
The data directory (default ``./.traza-sandbox``) holds the SQLite file, started afresh each run
because the stand-ins keep their state in memory, and a copy of the sample ``traza.yml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import secrets
import shutil
import socket
import sys
import time
from pathlib import Path

import uvicorn
import yaml

from store.migrate import upgrade
from traza import logs
from traza.sandbox.console import Console
from traza.sandbox.console_state import Cast, ConsoleLog, ConsoleView
from traza.sandbox.drive import TrazaDriver
from traza.sandbox.fakes.graph import FakeGraph
from traza.sandbox.fakes.server import ServerThread
from traza.sandbox.fakes.slack import FakeSlack
from traza.sandbox.ticks import DeliveryTicks
from traza.settings import Settings

log = logging.getLogger("traza.sandbox")
SAMPLE_CONFIG = Path(__file__).parent / "traza.sandbox.yml"


def sandbox_settings(base: Settings, data_dir: Path, host: str, port: int) -> Settings:
    """``base`` with the sandbox's database, no Redis, fresh secrets; URLs are set once the fakes run."""
    return dataclasses.replace(
        base,
        database_url=f"sqlite+aiosqlite:///{(data_dir / 'traza.db').resolve()}",
        redis_url=None,
        config_path=data_dir / "traza.yml",
        host=host,
        port=port,
        slack_bot_token=f"xoxb-sandbox-{secrets.token_hex(12)}",
        slack_signing_secret=secrets.token_hex(16),
        whatsapp_access_token=f"EAAsandbox{secrets.token_hex(16)}",
        whatsapp_app_secret=secrets.token_hex(16),
        whatsapp_verify_token=secrets.token_hex(8),
        api_token=secrets.token_hex(16),
        slack_pace=0.0,
    )


def prepare(data_dir: Path, keep: bool) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "traza.yml"
    if not config.exists():
        shutil.copyfile(SAMPLE_CONFIG, config)
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            (data_dir / f"traza.db{suffix}").unlink(missing_ok=True)


def run(base: Settings, args: argparse.Namespace) -> int:
    from traza.app import create_app
    from traza.cli import read_config

    data_dir = Path(args.dir)
    prepare(data_dir, args.keep)
    traza_socket = _bind(args.host, args.traza_port)
    settings = sandbox_settings(base, data_dir, args.host, int(traza_socket.getsockname()[1]))
    config = read_config(settings.config_path)
    cast = Cast.from_yaml(yaml.safe_load(settings.config_path.read_text(encoding="utf-8")))
    upgrade(settings.database_url)
    slack = FakeSlack(token=settings.slack_bot_token).start()
    graph = FakeGraph(
        token=settings.whatsapp_access_token, phone_number_ids=[n.phone_number_id for n in config.numbers]
    )
    graph.wamid_prefix = f"wamid.SANDBOX{int(time.time())}."
    graph.start()
    for user, name in cast.people.items():
        slack.set_user(user, real_name=name, display_name=name)
    settings = dataclasses.replace(settings, slack_api_url=slack.url + "/api/", graph_api_url=graph.base_url)
    logs.configure(settings.log_level, settings.secrets())
    traza_url = f"http://{args.host}:{settings.port}"
    driver = TrazaDriver(traza_url, settings.whatsapp_app_secret or "", settings.slack_signing_secret or "")
    ticks = DeliveryTicks(graph, driver).start()
    view = ConsoleView(config, cast, slack, graph, ticks, ConsoleLog())
    console = ServerThread(Console(view, view.log, driver).app, args.host, args.port, name="sandbox-console")
    try:
        console.start()
        _announce(console.url, traza_url, slack.url, graph.base_url, data_dir, settings)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, config),
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        server.run(sockets=[traza_socket])
    finally:
        ticks.stop()
        console.stop()
        slack.stop()
        graph.stop()
        traza_socket.close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _announce(console: str, traza: str, slack: str, graph: str, data_dir: Path, settings: Settings) -> None:
    lines = [
        f"Traza sandbox console: {console}/",
        f"  Traza (the real app on SQLite, no Redis): {traza}",
        f"  Slack Web API stand-in: {slack}/api/   Graph API stand-in: {graph}",
        f"  data: {data_dir.resolve()} (teams in {settings.config_path}); stop with Ctrl-C",
    ]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
