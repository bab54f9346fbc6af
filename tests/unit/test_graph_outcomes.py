"""The Graph client says whether a failed call may still have been acted on by Meta: only then
must a send wait for a status webhook instead of being repeated at once."""

from __future__ import annotations

import httpx
import pytest

from bridge.errors import TransientRemoteError
from bridge.whatsapp.graph import GraphClient

BODY = {"messaging_product": "whatsapp", "to": "+5491100000001", "type": "text", "text": {"body": "hi"}}


def _client(exc: Exception | None = None, response: httpx.Response | None = None) -> GraphClient:
    def handler(request: httpx.Request) -> httpx.Response:
        if exc is not None:
            raise exc
        assert response is not None
        return response

    return GraphClient("https://graph.test/v25.0", "token", transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("exc", "in_doubt"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.RemoteProtocolError("server disconnected without sending a response"), True),
        (httpx.ReadError("connection reset"), True),
    ],
)
async def test_a_send_is_in_doubt_only_when_it_may_have_reached_meta(exc: Exception, in_doubt: bool) -> None:
    client = _client(exc=exc)
    with pytest.raises(TransientRemoteError) as caught:
        await client.send("106540352242922", BODY)
    assert caught.value.in_doubt is in_doubt
    await client.aclose()


async def test_an_answer_without_a_message_id_leaves_the_send_in_doubt() -> None:
    client = _client(response=httpx.Response(200, json={"messaging_product": "whatsapp"}))
    with pytest.raises(TransientRemoteError) as caught:
        await client.send("106540352242922", BODY)
    assert caught.value.in_doubt
    await client.aclose()


async def test_an_error_answer_is_not_in_doubt() -> None:
    error = {"error": {"message": "Service unavailable", "type": "OAuthException", "code": 131000}}
    client = _client(response=httpx.Response(500, json=error))
    with pytest.raises(TransientRemoteError) as caught:
        await client.send("106540352242922", BODY)
    assert not caught.value.in_doubt
    await client.aclose()
