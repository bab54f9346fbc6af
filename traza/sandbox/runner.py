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
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
import yaml

from bridge.config import TrazaConfig
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


def prepare(data_dir: Path) -> None:
    """Copy the sample teams once (an edited copy is kept) and drop the previous run's database: the
    stand-ins start empty, so old cards would point at Slack messages that no longer exist. The
    database stays after the sandbox stops, for ``traza audit verify`` or ``traza export``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "traza.yml"
    if not config.exists():
        shutil.copyfile(SAMPLE_CONFIG, config)
    for suffix in ("", "-wal", "-shm"):
        (data_dir / f"traza.db{suffix}").unlink(missing_ok=True)


@dataclass
class StandIns:
    """The stand-ins and console threads of one sandbox run; ``stop`` ends them all."""

    slack: FakeSlack
    graph: FakeGraph
    ticks: DeliveryTicks | None = None
    console: ServerThread | None = None

    def stop(self) -> None:
        if self.ticks is not None:
            self.ticks.stop()
        if self.console is not None:
            self.console.stop()
        self.slack.stop()
        self.graph.stop()


def run(base: Settings, args: argparse.Namespace) -> int:
    from traza.app import create_app
    from traza.cli import read_config

    data_dir = Path(args.dir)
    prepare(data_dir)
    traza_socket = _bind(args.host, args.traza_port, "--traza-port")
    settings = sandbox_settings(base, data_dir, args.host, int(traza_socket.getsockname()[1]))
    config = read_config(settings.config_path)
    cast = Cast.from_yaml(yaml.safe_load(settings.config_path.read_text(encoding="utf-8")))
    upgrade(settings.database_url)
    stand_ins = _start_stand_ins(settings, config, cast)
    try:
        settings = dataclasses.replace(
            settings, slack_api_url=stand_ins.slack.url + "/api/", graph_api_url=stand_ins.graph.base_url
        )
        logs.configure(settings.log_level, settings.secrets())
        traza_url = f"http://{args.host}:{settings.port}"
        driver = TrazaDriver(
            traza_url, settings.whatsapp_app_secret or "", settings.slack_signing_secret or ""
        )
        stand_ins.ticks = DeliveryTicks(stand_ins.graph, driver).start()
        view = ConsoleView(config, cast, stand_ins.slack, stand_ins.graph, stand_ins.ticks, ConsoleLog())
        console_socket = _bind(args.host, args.port, "--port")
        console_socket.close()  # checked free; the console thread binds it again right away
        stand_ins.console = ServerThread(Console(view, driver).app, args.host, args.port, name="console")
        stand_ins.console.start()
        lines = _announcement(stand_ins, traza_url, settings)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(settings, config),
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
        )
        announcer = threading.Thread(target=_announce_when_up, args=(server, lines), name="sandbox-announce")
        announcer.start()
        server.run(sockets=[traza_socket])
        announcer.join(5)
    finally:
        stand_ins.stop()
        traza_socket.close()
    return 0


def _start_stand_ins(settings: Settings, config: TrazaConfig, cast: Cast) -> StandIns:
    slack = FakeSlack(token=settings.slack_bot_token)
    graph = FakeGraph(
        token=settings.whatsapp_access_token, phone_number_ids=[n.phone_number_id for n in config.numbers]
    )
    graph.wamid_prefix = f"wamid.SANDBOX{int(time.time())}."
    for user, name in cast.people.items():
        slack.set_user(user, real_name=name, display_name=name)
    slack.start()
    graph.start()
    return StandIns(slack, graph)


def _start_console(console: Console, host: str, port: int) -> ServerThread:
    from traza.cli import StartupError

    try:
        return ServerThread(console.app, host, port, name="sandbox-console").start()
    except OSError as exc:
        raise StartupError(
            [f"--port: cannot listen on {host}:{port} ({exc.strerror}); choose another"]
        ) from exc


def _bind(host: str, port: int, option: str) -> socket.socket:
    from traza.cli import StartupError

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            [f"{option}: cannot listen on {host}:{port} ({exc.strerror}); choose another"]
        ) from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _announcement(stand_ins: StandIns, traza_url: str, settings: Settings) -> list[str]:
    console = stand_ins.console.url if stand_ins.console else "?"
    return [
        f"Traza sandbox console: {console}/",
        f"  Traza (the real app on SQLite, no Redis): {traza_url}",
        f"  Slack Web API stand-in: {stand_ins.slack.url}/api/",
        f"  Graph API stand-in: {stand_ins.graph.base_url}",
        f"  data and teams: {settings.config_path.parent.resolve()}; stop with Ctrl-C",
    ]


def _announce_when_up(server: uvicorn.Server, lines: list[str]) -> None:
    """Print the URLs once Traza accepts requests (not before, so the first click never fails)."""
    deadline = time.monotonic() + 60
    while not server.started and not server.should_exit and time.monotonic() < deadline:
        time.sleep(0.05)
    if server.started:
        print("\n".join(lines), flush=True)
