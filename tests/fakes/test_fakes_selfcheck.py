"""Self-checks: the fakes behave like Slack / Graph for the real clients (slack_sdk, httpx)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.server import ServerThread, wait_for
from tests.fakes.slack import BOT_USER_ID, FakeSlack

WA_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp"
CHANNEL = "C0SUPTEAMA"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # slack_sdk copies these into the client and ignores NO_PROXY (slack-platform.md §1.5).
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-test") as fake:
        yield fake


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph(token="wa-test-token") as fake:
        yield fake


def client_for(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.url + "/api/")


# ---------------------------------------------------------------------- server runner


def test_server_thread_starts_and_stops() -> None:
    slack = FakeSlack()
    with ServerThread(slack.app) as server:
        assert server.url.startswith("http://127.0.0.1:")
        resp = httpx.post(server.url + "/api/auth.test", headers={"Authorization": "Bearer x"})
        assert resp.json()["user_id"] == BOT_USER_ID
    assert not server.running
    with pytest.raises(AssertionError, match="timed out"):
        wait_for(lambda: False, timeout=0.05)


# ---------------------------------------------------------------------- Slack


async def test_post_thread_update_permalink(slack: FakeSlack) -> None:
    client = client_for(slack)
    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"], auth["user"]) == (
        "U0BOT00001",
        "B0BOT00001",
        "T0ACME0001",
        "traza",
    )
    meta = {"event_type": "wa_conversation", "event_payload": {"conversation_id": "wa-1"}}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Maria*"}}]
    parent = await client.chat_postMessage(
        channel=CHANNEL, text="Nova conversa", blocks=blocks, metadata=meta
    )
    assert parent["ts"] == "1767268800.000100"
    assert parent["message"]["metadata"] == meta
    assert parent["message"]["blocks"] == blocks
    reply = await client.chat_postMessage(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        text="Olá",
        username="Maria (WhatsApp)",
        icon_url="https://cdn.example/a.png",
    )
    assert reply["ts"] == "1767268801.000200"
    assert reply["message"]["thread_ts"] == parent["ts"]
    assert reply["message"]["username"] == "Maria (WhatsApp)"
    assert reply["message"]["subtype"] == "bot_message"

    updated = await client.chat_update(channel=CHANNEL, ts=parent["ts"], text="Assumida")
    assert updated["message"]["text"] == "Assumida"
    with pytest.raises(SlackApiError) as err:
        await client.chat_update(channel=CHANNEL, ts="1.000000", text="x")
    assert err.value.response["error"] == "message_not_found"

    [top] = slack.messages_in(CHANNEL)
    assert top["text"] == "Assumida" and top["reply_count"] == 1
    assert [m["text"] for m in slack.thread(CHANNEL, parent["ts"])] == ["Olá"]
    assert len(slack.posts()) == 2

    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])
    assert link["permalink"].startswith(
        "https://acme.slack.com/archives/C0SUPTEAMA/p1767268801000200?thread_ts=1767268800.000100"
    )
    eph = await client.chat_postEphemeral(channel=CHANNEL, user="U0AGENT001", text="só você")
    assert eph["message_ts"] and slack.ephemerals(CHANNEL)[0]["text"] == "só você"


async def test_files_upload_v2_three_steps(slack: FakeSlack) -> None:
    client = client_for(slack)
    parent = await client.chat_postMessage(channel=CHANNEL, text="parent")
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10
    resp = await client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        file=data,
        filename="foto.png",
        title="Imagem do cliente",
        initial_comment="Maria enviou uma imagem",
    )
    file_id = resp["file"]["id"]
    assert [c.method for c in slack.calls[-3:]] == [
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    assert slack.file_bytes(file_id) == data
    [share] = slack.thread(CHANNEL, parent["ts"])
    assert share["files"][0]["id"] == file_id
    assert share["text"] == "Maria enviou uma imagem"
    info = await client.files_info(file=file_id)
    [entry] = info["file"]["shares"]["public"][CHANNEL]
    assert entry["ts"] == share["ts"] and entry["thread_ts"] == parent["ts"]
    assert info["file"]["title"] == "Imagem do cliente"
    async with httpx.AsyncClient() as http:
        url = info["file"]["url_private"]
        assert (await http.get(url)).status_code == 401
        got = await http.get(url, headers={"Authorization": "Bearer xoxb-test"})
        assert got.content == data


async def test_reactions_and_replies_metadata(slack: FakeSlack) -> None:
    client = client_for(slack)
    meta = {"event_type": "wa_inbound", "event_payload": {"wa_message_id": "wamid.X"}}
    parent = await client.chat_postMessage(channel=CHANNEL, text="p", metadata=meta)
    agent_ts = slack.inject_message(CHANNEL, "Oi Maria", thread_ts=parent["ts"])
    await client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="bot", metadata=meta)

    await client.reactions_add(channel=CHANNEL, timestamp=agent_ts, name="white_check_mark")
    with pytest.raises(SlackApiError) as err:
        await client.reactions_add(channel=CHANNEL, timestamp=agent_ts, name="white_check_mark")
    assert err.value.response["error"] == "already_reacted"
    assert slack.reactions(CHANNEL, agent_ts) == ["white_check_mark"]

    replies = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"], include_all_metadata=True)
    msgs = replies["messages"]
    assert [m["text"] for m in msgs] == ["p", "Oi Maria", "bot"]
    assert msgs[0]["metadata"] == meta and msgs[2]["metadata"] == meta
    plain = await client.conversations_replies(channel=CHANNEL, ts=parent["ts"])
    assert all("metadata" not in m for m in plain["messages"])
    history = await client.conversations_history(channel=CHANNEL, include_all_metadata=True)
    assert [m["ts"] for m in history["messages"]] == [parent["ts"]]


async def test_rate_limit_and_faults(slack: FakeSlack) -> None:
    client = client_for(slack)
    slack.rate_limit_next("chat.postMessage", retry_after=3)
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="a")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "3"
    assert err.value.response["error"] == "ratelimited"

    retrying = client_for(slack)
    retrying.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit_next("chat.postMessage", retry_after=0)
    ok = await retrying.chat_postMessage(channel=CHANNEL, text="b")
    assert ok["ok"] and [c.status for c in slack.posts()] == [429, 429, 200]

    slack.fail_next("chat.postMessage", "missing_scope", needed="chat:write.customize")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="c")
    assert err.value.response["needed"] == "chat:write.customize"
    slack.server_error_next("chat.postMessage")
    with pytest.raises(SlackApiError) as err:
        await client.chat_postMessage(channel=CHANNEL, text="d")
    assert err.value.response.status_code == 500
    with pytest.raises(SlackApiError) as err:
        await client.api_call("nope.method")
    assert err.value.response["error"] == "unknown_method"
    assert [m["text"] for m in slack.messages_in(CHANNEL)] == ["b"]
    assert slack.max_posts_per_window(CHANNEL, 1.0) == 5
    assert slack.max_posts_per_window(CHANNEL, 1.0, include_failed=False) == 1


async def test_users_views_response_url(slack: FakeSlack) -> None:
    client = client_for(slack)
    slack.set_user("U0AGENT001", display_name="Ana", real_name="Ana Souza")
    ana = await client.users_info(user="U0AGENT001")
    assert ana["user"]["profile"]["display_name"] == "Ana"
    other = await client.users_info(user="U0AGENT002")
    assert other["user"]["real_name"] == "Agent U0AGENT002"
    assert other["user"]["profile"]["display_name"] == ""

    view = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    opened = await client.views_open(trigger_id="1.2.3", view=view)
    await client.views_update(view_id=opened["view"]["id"], view=view)
    await client.views_publish(user_id="U0AGENT001", view={"type": "home", "blocks": []})
    assert [v["method"] for v in slack.views()] == ["views.open", "views.update", "views.publish"]

    parent = await client.chat_postMessage(channel=CHANNEL, text="p")
    url = slack.new_response_url(channel=CHANNEL, thread_ts=parent["ts"])
    async with httpx.AsyncClient() as http:
        r = await http.post(url, json={"response_type": "in_channel", "text": "histórico"})
    assert r.status_code == 200
    assert slack.responses()[0]["text"] == "histórico"
    assert [m["text"] for m in slack.thread(CHANNEL, parent["ts"])] == ["histórico"]

    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.url + "/api/")
    with pytest.raises(SlackApiError) as err:
        await bad.auth_test()
    assert err.value.response["error"] == "invalid_auth"


async def test_users_get_presence(slack: FakeSlack) -> None:
    client = client_for(slack)
    assert (await client.users_getPresence(user="U0AGENT001"))["presence"] == "active"
    slack.set_user("U0AGENT001", presence="away")
    assert (await client.users_getPresence(user="U0AGENT001"))["presence"] == "away"
    assert "presence" not in (await client.users_info(user="U0AGENT001"))["user"]
    with pytest.raises(SlackApiError) as err:
        await client.users_getPresence(user="C0NOTAUSER")
    assert err.value.response["error"] == "user_not_found"


def test_pacing_checker() -> None:
    slack = FakeSlack()
    with slack:
        for _ in range(3):
            httpx.post(
                slack.url + "/api/chat.postMessage",
                json={"channel": "C1", "text": "x"},
                headers={"Authorization": "Bearer t"},
            )
            time.sleep(0.3)
    assert slack.max_posts_per_window("C1", 1.0) == 3
    assert slack.max_posts_per_window("C1", 0.2) == 1
    assert slack.max_posts_per_window("C2", 1.0) == 0


# ---------------------------------------------------------------------- Graph


def auth(token: str = "wa-test-token") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_graph_send_text_and_mark_read(graph: FakeGraph) -> None:
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": {"body": "Olá! Seu pedido saiu."},
    }
    r = httpx.post(f"{graph.base_url}/106540352242922/messages", json=body, headers=auth())
    assert r.status_code == 200
    data = r.json()
    assert data["contacts"] == [{"input": "+16505551234", "wa_id": "16505551234"}]
    wamid = data["messages"][0]["id"]
    assert wamid == "wamid.FAKE1"
    assert graph.sent_texts() == ["Olá! Seu pedido saiu."]
    assert graph.wait_for_sends(1) == [body]

    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"}
    r = httpx.post(f"{graph.base_url}/106540352242922/messages", json=read, headers=auth())
    assert r.json() == {"success": True} and graph.read_marks() == [read]
    assert len(graph.sent) == 1

    bsuid = {"messaging_product": "whatsapp", "recipient": "US.1349", "text": {"body": "x"}}
    r = httpx.post(f"{graph.base_url}/106540352242922/messages", json=bsuid, headers=auth())
    assert r.json()["contacts"] == [{"input": "US.1349", "user_id": "US.1349"}]

    bad = httpx.post(f"{graph.base_url}/106540352242922/messages", json=body, headers=auth("x"))
    assert bad.status_code == 401 and bad.json()["error"]["code"] == 190
    invalid = httpx.post(f"{graph.base_url}/106540352242922/messages", json={"to": "1"}, headers=auth())
    assert invalid.status_code == 400 and invalid.json()["error"]["code"] == 100

    status = graph.status_webhook_for(wamid, "delivered")
    item = status["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert (item["id"], item["recipient_id"], item["status"]) == (wamid, "16505551234", "delivered")


@pytest.mark.parametrize(
    ("code", "fixture", "http_status"),
    [
        (131047, "err_01_sync_131047_reengagement.json", 400),
        (130429, "err_02_130429_rate_limit.json", 429),
        (131056, "err_03_131056_pair_rate_limit.json", 400),
        (190, "err_04_190_token_expired.json", 401),
        (100, "err_05_100_invalid_parameter.json", 400),
    ],
)
def test_graph_error_injection_matches_fixtures(
    graph: FakeGraph, code: int, fixture: str, http_status: int
) -> None:
    path = WA_FIXTURES / fixture
    if not path.exists():
        pytest.skip(f"fixture {fixture} not present")
    graph.fail_next_send(code, retry_after=2 if code == 130429 else None)
    body = {"messaging_product": "whatsapp", "to": "+16505551234", "text": {"body": "hi"}}
    url = f"{graph.base_url}/106540352242922/messages"
    r = httpx.post(url, json=body, headers=auth())
    assert r.status_code == http_status
    assert r.json() == json.loads(path.read_text())
    if code == 130429:
        assert r.headers["Retry-After"] == "2"
    assert graph.sent == []
    assert httpx.post(url, json=body, headers=auth()).status_code == 200


def test_graph_server_error_and_generic_code(graph: FakeGraph) -> None:
    url = f"{graph.base_url}/106540352242922/messages"
    body = {"messaging_product": "whatsapp", "to": "+1650", "text": {"body": "hi"}}
    graph.server_error_next()
    r = httpx.post(url, json=body, headers=auth())
    assert r.status_code == 500 and r.json()["error"]["code"] == 131000
    graph.fail_next_send(131026)
    r = httpx.post(url, json=body, headers=auth())
    assert r.json()["error"]["message"] == "(#131026) Message undeliverable"


def test_graph_media_resolve_download_upload(graph: FakeGraph) -> None:
    graph.add_media("1003383421387256", b"\xff\xd8jpegbytes", "image/jpeg")
    r = httpx.get(f"{graph.base_url}/1003383421387256", headers=auth())
    meta = r.json()
    assert meta["mime_type"] == "image/jpeg" and meta["file_size"] == "11"
    assert meta["url"] == f"{graph.url}/media-download/1003383421387256"
    assert httpx.get(meta["url"]).status_code == 401
    got = httpx.get(meta["url"], headers=auth())
    assert got.content == b"\xff\xd8jpegbytes"
    assert got.headers["content-type"] == "image/jpeg"

    missing = httpx.get(f"{graph.base_url}/999", headers=auth())
    assert missing.status_code == 400 and missing.json()["error"]["code"] == 100

    up = httpx.post(
        f"{graph.base_url}/106540352242922/media",
        data={"messaging_product": "whatsapp", "type": "application/pdf"},
        files={"file": ("nota.pdf", b"%PDF-1.4 data", "application/pdf")},
        headers=auth(),
    )
    media_id = up.json()["id"]
    [item] = graph.uploads()
    assert (item.id, item.data, item.mime_type, item.filename) == (
        media_id,
        b"%PDF-1.4 data",
        "application/pdf",
        "nota.pdf",
    )


def test_graph_templates(graph: FakeGraph) -> None:
    r = httpx.get(f"{graph.base_url}/102290129340398/message_templates", headers=auth())
    names = [t["name"] for t in r.json()["data"]]
    assert "retomar_atendimento" in names
    assert all(t["status"] == "APPROVED" for t in r.json()["data"])
    url = f"{graph.base_url}/106540352242922/messages"
    tpl = {
        "messaging_product": "whatsapp",
        "to": "+16505551234",
        "type": "template",
        "template": {
            "name": "retomar_atendimento",
            "language": {"code": "pt_BR"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}],
        },
    }
    ok = httpx.post(url, json=tpl, headers=auth())
    assert ok.json()["messages"][0]["message_status"] == "accepted"
    tpl["template"]["name"] = "nao_existe"  # type: ignore[index]
    assert httpx.post(url, json=tpl, headers=auth()).json()["error"]["code"] == 132001


def test_webhook_signing_known_vector() -> None:
    path = WA_FIXTURES / "in_01_text.json"
    if not path.exists():
        pytest.skip("fixture in_01_text.json not present")
    expected = "sha256=29f54a8ebe17b7288996664bd0bf92eb510f6bc2e9cc143def83d71da9710517"
    assert wp.sign(path.read_bytes(), "test_app_secret") == expected
    body = wp.inbound_text_webhook("Olá, ação 👍")
    raw, headers = wp.signed_webhook(body, "s3cret")
    assert b"\\u00e1" in raw and b"\\ud83d\\udc4d" in raw
    assert b'": ' not in raw and b', "' not in raw  # compact separators
    assert headers["X-Hub-Signature-256"] == wp.sign(raw, "s3cret")
    assert json.loads(raw) == body
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    assert (msg["from"], msg["type"], msg["text"]["body"]) == ("16505551234", "text", "Olá, ação 👍")
    multi = wp.inbound_webhook(["oi", {"type": "location", "location": {"latitude": 1.0, "longitude": 2.0}}])
    types = [m["type"] for m in multi["entry"][0]["changes"][0]["value"]["messages"]]
    assert types == ["text", "location"]
    failed = wp.status_webhook("wamid.X", "failed", errors=[wp.status_error(131047)])
    value = failed["entry"][0]["changes"][0]["value"]
    assert "contacts" not in value and value["statuses"][0]["errors"][0]["code"] == 131047
