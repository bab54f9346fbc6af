"""``traza sandbox`` starts on a fresh machine with no credentials and its console drives the whole
round trip over HTTP: only signed requests reach Traza, and what Traza does shows up in the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fakes.server import wait_for
from tests.sandbox_process import running_sandbox

CUSTOMER = "5491155550177"
SOPORTE_NUMBER = "106540352242922"
SOPORTE, AGENT, LEAD = "C0SOPORTE1", "U0AGENT003", "U0LEAD0002"


def state(client: httpx.Client, user: str) -> dict[str, Any]:
    response = client.get("/console/api/state", params={"user": user, "wa_id": CUSTOMER})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def post(client: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_sandbox_starts_without_credentials_and_the_round_trip_works_over_http(tmp_path: Path) -> None:
    with running_sandbox(tmp_path) as sandbox, httpx.Client(base_url=sandbox.console, timeout=10) as client:
        assert client.get("/").status_code == 200 and "Traza sandbox" in client.get("/").text
        setup = client.get("/console/api/setup").json()
        assert [t["id"] for t in setup["teams"]] == ["ventas", "soporte", "cobranzas"]
        assert len(setup["numbers"]) == 2

        sent = post(
            client,
            "/console/api/phone/text",
            {"number": SOPORTE_NUMBER, "wa_id": CUSTOMER, "name": "Ana", "text": "Hola, ¿me ayudan?"},
        )
        assert sent["ok"]
        card = wait_for(lambda: state(client, AGENT)["channels"][SOPORTE], timeout=15, message="card")[0]
        assert "#1001" in card["text"] and "conv_claim" in str(card["blocks"])

        claimed = post(
            client, "/console/api/slack/command", {"user": AGENT, "channel": SOPORTE, "line": "/claim 1001"}
        )
        assert "You now hold #1001" in claimed["answer"]
        post(
            client,
            "/console/api/slack/reply",
            {"user": AGENT, "channel": SOPORTE, "thread_ts": card["ts"], "text": "Claro, dime"},
        )

        def delivered_answer() -> dict[str, Any] | None:
            outbound = [m for m in state(client, AGENT)["phone"] if m["dir"] == "out"]
            return outbound[0] if outbound and outbound[0]["status"] == "delivered" else None

        answer = wait_for(delivered_answer, timeout=15, message="stamped answer delivered")
        assert answer["text"] == "*Ana Torres · Soporte*\nClaro, dime"
        post(client, "/console/api/phone/seen", {"wamids": [answer["wamid"]]})
        wait_for(
            lambda: state(client, AGENT)["phone"][-1]["status"] == "read", timeout=10, message="read tick"
        )

        history = post(
            client,
            "/console/api/slack/command",
            {"user": LEAD, "channel": SOPORTE, "line": "/traza history 1001"},
        )
        assert "Claro, dime" in history["answer"] and "ReplyDelivered" in history["answer"]
        private = state(client, LEAD)["private"]
        assert any("Timeline of #1001" in a["text"] for a in private)
        assert not any("Timeline" in a["text"] for a in state(client, AGENT)["private"])

        unsigned = httpx.post(f"{sandbox.traza}/whatsapp/webhook", content=b"{}")
        assert unsigned.status_code == 401
    assert not (tmp_path / "traza.yml").exists()
    assert (tmp_path / ".traza-sandbox" / "traza.yml").is_file()
    assert "Traceback" not in sandbox.log.read_text()


def test_a_busy_console_port_stops_the_sandbox_with_one_line(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    from tests.sandbox_process import clean_env

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "traza.cli", "sandbox", "--port", str(port)],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"traza: --port: cannot listen on 127.0.0.1:{port} (Address already in use); choose another"
    )
