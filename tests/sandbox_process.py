"""``traza sandbox`` as a child process, the way a newcomer runs it: a fresh directory, no
credentials in the environment, any free ports. Yields the console and Traza URLs it prints."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

CREDENTIALS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_VERIFY_TOKEN",
    "TRAZA_API_TOKEN",
)


@dataclass(frozen=True)
class Sandbox:
    console: str
    traza: str
    workdir: Path
    log: Path


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS and not k.startswith("TRAZA_")}
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(proxy, None)
    return env


@contextlib.contextmanager
def running_sandbox(workdir: Path, timeout: float = 30.0) -> Iterator[Sandbox]:
    out, err = workdir / "sandbox.out", workdir / "sandbox.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "traza.cli", "sandbox", "--port", "0"],
            cwd=workdir,
            env=clean_env(),
            stdout=stdout,
            stderr=stderr,
        )
        try:
            yield _wait_ready(proc, out, err, workdir, timeout)
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_ready(
    proc: subprocess.Popen[bytes], out: Path, err: Path, workdir: Path, timeout: float
) -> Sandbox:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"traza sandbox exited with {proc.returncode}:\n{err.read_text()}")
        text = out.read_text()
        console = re.search(r"Traza sandbox console: (http://\S+?)/?$", text, re.M)
        traza = re.search(r"Traza \(the real app[^)]*\): (http://\S+)", text)
        if console and traza and _healthy(traza.group(1)):
            return Sandbox(console.group(1), traza.group(1), workdir, err)
        time.sleep(0.1)
    raise AssertionError(f"traza sandbox did not start in {timeout}s:\n{out.read_text()}\n{err.read_text()}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
