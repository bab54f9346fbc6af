"""Shared helpers for the benchmarks: servers as subprocesses, throw-away databases, a lean HTTP/1.1
load generator, percentiles, peak-RSS sampling and result files.

Everything here talks to 127.0.0.1 only and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fakes import whatsapp_payloads as wp  # noqa: E402
from tests.harness import (  # noqa: E402
    APP_SECRET,
    CONFIG_PATH,
    GRAPH_TOKEN,
    SIGNING_SECRET,
    SLACK_TOKEN,
    VERIFY_TOKEN,
)

RESULTS = ROOT / "bench" / "results"
PYTHON = ROOT / ".venv" / "bin" / "python"
TRAZA = ROOT / ".venv" / "bin" / "traza"
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
PHONE_NUMBER_ID = wp.PHONE_NUMBER_ID  # routed to team soporte -> C0SOPORTE1 in tests/config/traza.yml
CHANNEL = "C0SOPORTE1"


# --------------------------------------------------------------------------- small utilities


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for an empty sample."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 2)


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {
        "benchmark": name,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def run_id() -> str:
    return secrets.token_hex(3)


# --------------------------------------------------------------------------- webhooks


def customer_wa_id(index: int) -> str:
    return f"5491100{index:06d}"


def webhook_bytes(text: str, wamid: str, customer: int) -> bytes:
    body = wp.inbound_text_webhook(
        text,
        wamid=wamid,
        name=f"Bench Customer {customer}",
        wa_id=customer_wa_id(customer),
        user_id=f"AR.BENCH{customer:08d}",
        phone_number_id=PHONE_NUMBER_ID,
    )
    return wp.serialize(body)


def webhook_request(raw: bytes, port: int, secret: str = APP_SECRET) -> bytes:
    """A complete keep-alive HTTP/1.1 POST to /whatsapp/webhook, signed like Meta signs it."""
    head = (
        "POST /whatsapp/webhook HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: facebookexternalua\r\n"
        "Content-Type: application/json\r\n"
        f"X-Hub-Signature-256: {wp.sign(raw, secret)}\r\n"
        f"Content-Length: {len(raw)}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + raw


# --------------------------------------------------------------------------- load generator


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends pre-built requests and reads the answers.

    Far cheaper per request than httpx, so on a 2-core machine the load generator takes as little CPU
    as possible from the server it measures."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), self.timeout
        )

    async def send(self, request: bytes) -> int:
        """Send one request; return the HTTP status (0 on a connection error, after reconnecting)."""
        try:
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            self.writer.write(request)
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), self.timeout)
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value.strip())
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            if length:
                await asyncio.wait_for(self.reader.readexactly(length), self.timeout)
            if close:
                await self.close()
            return status
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            await self.close()
            return 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 2.0)
        self.reader = self.writer = None


@dataclass
class LoadResult:
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)  # seconds, 200s only
    elapsed: float = 0.0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.sent,
            "ok_200": self.ok,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "elapsed_s": round(self.elapsed, 3),
            "req_per_s": round(self.ok / self.elapsed, 1) if self.elapsed else 0.0,
            "p50_ms": ms(percentile(self.latencies, 50)),
            "p90_ms": ms(percentile(self.latencies, 90)),
            "p99_ms": ms(percentile(self.latencies, 99)),
            "max_ms": ms(max(self.latencies) if self.latencies else None),
        }


async def closed_loop(
    port: int, requests: Sequence[bytes], concurrency: int, deadline_s: float
) -> LoadResult:
    """Send every request with ``concurrency`` connections, each sending its next one as soon as the
    previous is answered (closed loop). Stops at ``deadline_s`` whatever happens."""
    result = LoadResult()
    index = 0
    stop_at = time.perf_counter() + deadline_s

    async def worker() -> None:
        nonlocal index
        conn = HttpConnection(port)
        try:
            while index < len(requests) and time.perf_counter() < stop_at:
                request = requests[index]
                index += 1
                started = time.perf_counter()
                status = await conn.send(request)
                took = time.perf_counter() - started
                result.sent += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200:
                    result.latencies.append(took)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result


# --------------------------------------------------------------------------- processes


def bench_env(database_url: str, slack_url: str, graph_url: str, **extra: str) -> dict[str, str]:
    """The environment of a ``traza serve`` run (the same variables tests/harness.py::env_for sets)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAZA_", "SLACK_", "WHATSAPP_"))}
    env.update(
        {
            "TRAZA_CONFIG": str(CONFIG_PATH),
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "TRAZA_SLACK_API_URL": slack_url,
            "WHATSAPP_ACCESS_TOKEN": GRAPH_TOKEN,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "TRAZA_GRAPH_API_URL": graph_url,
            "TRAZA_SLACK_PACE": "0",
            "TRAZA_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_url:
        env["TRAZA_DATABASE_URL"] = database_url
    env.update(extra)
    return env


class Server:
    """A server subprocess (``traza serve`` or ``bench/bare_app.py``) on 127.0.0.1:``port``."""

    def __init__(self, argv: list[str], env: dict[str, str], port: int, cwd: Path, log_path: Path) -> None:
        self.argv, self.env, self.port, self.cwd, self.log_path = argv, env, port, cwd, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self.stop_s: float | None = None  # seconds from SIGTERM to exit
        self.killed = False  # True when it did not exit on SIGTERM in time and was SIGKILLed

    def start(self, timeout: float = 60.0) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode}; see {self.log_path}")
            if _http_ok(self.port, "/healthz"):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer /healthz within {timeout}s; see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            started = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                self.proc.kill()
                self.proc.wait(5)
            self.stop_s = round(time.monotonic() - started, 2)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _http_ok(port: int, path: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def traza_serve(env: dict[str, str], port: int, cwd: Path, log_path: Path, *, worker: bool) -> Server:
    argv = [str(TRAZA), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if not worker:
        argv.append("--no-worker")
    return Server(argv, env, port, cwd, log_path)


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM (peak RSS) of ``pid`` in kB, from /proc (psutil is not needed)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by ``pid``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples a process's RSS every ``interval`` seconds in a thread; ``peak_mb`` is the larger of the
    sampled maximum and the kernel's high-water mark (VmHWM)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid, self.interval = pid, interval
        self.max_rss_kb = 0
        self.hwm_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            status = proc_status(self.pid)
            self.max_rss_kb = max(self.max_rss_kb, status.get("VmRSS", 0))
            self.hwm_kb = max(self.hwm_kb, status.get("VmHWM", 0))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2.0)
        status = proc_status(self.pid)
        self.hwm_kb = max(self.hwm_kb, status.get("VmHWM", 0))

    @property
    def peak_mb(self) -> float:
        return round(max(self.max_rss_kb, self.hwm_kb) / 1024.0, 1)


# --------------------------------------------------------------------------- databases


async def _pg_admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def pg_url_for(name: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


@contextlib.contextmanager
def pg_database(prefix: str) -> Iterator[str]:
    """A fresh PostgreSQL database ``traza_bench_<prefix>_<random>``; yields its SQLAlchemy URL and
    drops it afterwards."""
    name = f"traza_bench_{prefix}_{run_id()}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield pg_url_for(name)
    finally:
        with contextlib.suppress(Exception):
            asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"traza_bench_{prefix}_") as path:
        yield Path(path)


def flush_redis_db(url: str = REDIS_URL) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    finally:
        client.close()


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    """Print ``rows`` as a plain text table with (key, header) ``columns``."""
    cells = [[("" if r.get(k) is None else str(r.get(k))) for k, _ in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (_, h) in enumerate(columns)]
    print("  ".join(h.ljust(w) for (_, h), w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


def run_async(coro: Any) -> Any:
    """Run ``coro`` on uvloop when installed (a cheaper load generator), else on asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
