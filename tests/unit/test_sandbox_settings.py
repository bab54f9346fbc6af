"""The sandbox never uses the operator's credentials, Redis or database, and never touches their files."""

from __future__ import annotations

from pathlib import Path

from traza.sandbox.runner import SAMPLE_CONFIG, prepare, sandbox_settings
from traza.settings import Settings


def test_sandbox_settings_replace_credentials_redis_and_database(tmp_path: Path) -> None:
    base = Settings(
        database_url="postgresql+asyncpg://u:p@db/prod",
        redis_url="redis://prod:6379/0",
        slack_bot_token="xoxb-real",
        whatsapp_app_secret="real-secret",
        slack_pace=1.0,
    )
    first = sandbox_settings(base, tmp_path, "127.0.0.1", 9000)
    second = sandbox_settings(base, tmp_path, "127.0.0.1", 9000)
    assert first.redis_url is None
    assert first.database_url == f"sqlite+aiosqlite:///{(tmp_path / 'traza.db').resolve()}"
    assert first.config_path == tmp_path / "traza.yml"
    assert first.slack_bot_token != "xoxb-real" and first.whatsapp_app_secret != "real-secret"
    assert first.whatsapp_app_secret != second.whatsapp_app_secret, "secrets are generated per run"
    assert first.slack_pace == 0.0 and not first.missing_for_serve()


def test_prepare_copies_the_sample_once_and_starts_a_fresh_database(tmp_path: Path) -> None:
    data = tmp_path / "sandbox"
    prepare(data)
    assert (data / "traza.yml").read_text() == SAMPLE_CONFIG.read_text()
    (data / "traza.yml").write_text("# edited\n" + SAMPLE_CONFIG.read_text())
    (data / "traza.db").write_text("old")
    prepare(data)
    assert not (data / "traza.db").exists()
    assert (data / "traza.yml").read_text().startswith("# edited"), "an edited copy is kept"
