"""Schema-driven fuzzing of ``/api`` with schemathesis, against the real ASGI app (``create_app``) on
SQLite and PostgreSQL+Redis with a few real conversations in it.

Every operation of ``/openapi.json`` gets valid and invalid requests (positive and negative modes);
schemathesis's checks then require: no 5xx, status codes, content types and bodies as documented,
invalid input rejected, and the bearer token not ignored (the request resent without it gets 401).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi

from tests.e2e.test_inbound_support import customer_text, wa_ids
from tests.fakes import whatsapp_payloads as wp
from tests.fakes.graph import FakeGraph
from tests.fakes.slack import FakeSlack
from tests.harness import APP_SECRET, env_for, load_test_config
from traza.app import create_app
from traza.settings import Settings

TOKEN = "api-fuzz-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EXAMPLES = max(5, settings.default.max_examples // 3)


@pytest.fixture
def api_app(
    database_url: str, fakes: tuple[FakeSlack, FakeGraph], request: pytest.FixtureRequest
) -> Iterator[Any]:
    slack, graph = fakes
    extra = {"TRAZA_API_TOKEN": TOKEN}
    if database_url.startswith("postgresql"):
        extra["TRAZA_REDIS_URL"] = request.getfixturevalue("redis_url")
    app = create_app(
        Settings.from_env(env_for(database_url, slack, graph, **extra), env_file=None), load_test_config()
    )
    try:
        with asgi.get_client(app) as client:  # starts the app's lifespan (worker included) for the test
            _seed(client)
            yield app
    finally:
        asgi.shutdown_lifespans()


def _seed(client: Any) -> None:
    """Three conversations, so refs and timelines resolve to real rows, not only 404s."""
    for n, wa_id in enumerate(wa_ids(3)):
        raw, headers = wp.signed_webhook(customer_text(f"semilla {n}", wa_id=wa_id), APP_SECRET)
        assert client.post("/whatsapp/webhook", data=raw, headers=headers).status_code == 200
    deadline = time.monotonic() + 20
    while len(client.get("/api/conversations", headers=AUTH).json().get("items", [])) < 3:
        assert time.monotonic() < deadline, "the seeded conversations never appeared"
        time.sleep(0.05)


def _instant(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None


def _expressible(case: Any) -> bool:
    """False for the two rules the schema states only in words (see ``Instant``'s description):
    since after until, and instants at the very ends of the calendar, which the API answers 422;
    and for a repeated scalar query parameter, which it reads as its last value."""
    query = case.query or {}
    if any(isinstance(v, list | tuple) for v in query.values()):
        return False  # a repeated scalar parameter: FastAPI takes the last one, as most HTTP APIs do
    if "team" in query and not isinstance(query["team"], str):
        return False  # team is free text: a "wrong type" value is still text once in a URL
    since, until = _instant(query.get("since")), _instant(query.get("until"))
    if any(v is not None and not 1 < v.year < 9999 for v in (since, until)):
        return False
    if since is None or until is None:
        return True
    try:
        aware = [v if v.tzinfo else v.replace(tzinfo=UTC) for v in (since, until)]
        return aware[0] <= aware[1]
    except (OverflowError, ValueError):
        return False


def _api_operations(app: Any) -> list[Any]:
    # Unknown query parameters are ignored, as HTTP APIs do; the schema does not promise to refuse them.
    config = SchemathesisConfig.from_dict({"generation": {"allow-extra-parameters": False}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    return [
        op for op in (result.ok() for result in schema.get_all_operations()) if op.path.startswith("/api")
    ]


def test_every_api_operation_honours_its_schema_under_fuzzing(api_app: Any) -> None:
    operations = _api_operations(api_app)
    assert {op.path for op in operations} == {
        "/api/conversations",
        "/api/conversations/{ref}",
        "/api/conversations/{ref}/timeline",
        "/api/metrics",
    }
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES)
            @given(case=operation.as_strategy(generation_mode=mode).filter(_expressible))
            def check(case: Any) -> None:
                case.call_and_validate(headers=AUTH)

            check()


def test_every_api_operation_answers_401_without_the_token(api_app: Any) -> None:
    for operation in _api_operations(api_app):

        @settings(max_examples=max(3, EXAMPLES // 3))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic " + TOKEN}):
                case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
                response = case.call(headers=headers)
                assert response.status_code == 401, (headers, response.status_code, response.text)
                assert response.headers.get("www-authenticate") == ["Bearer"]

        check()
