"""Process settings: the only reader of the environment (and of the ``.env`` file).

Every problem is reported as one line naming the setting, and secrets are never echoed back: the
``Settings.__repr__`` masks them so a settings object can be logged safely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

SECRET_NAMES = frozenset(
    {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN",
        "TRAZA_API_TOKEN",
    }
)

HOW_TO_SET = {
    "SLACK_BOT_TOKEN": "the bot token (xoxb-…) from your Slack app's OAuth & Permissions page",
    "SLACK_SIGNING_SECRET": "the signing secret from your Slack app's Basic Information page",
    "WHATSAPP_ACCESS_TOKEN": "a system-user access token of your Meta app with whatsapp_business_messaging",
    "WHATSAPP_APP_SECRET": "the app secret from your Meta app's Settings → Basic page",
    "WHATSAPP_VERIFY_TOKEN": "any string; enter the same one as Verify token in Meta's webhook settings",
}


class SettingsError(ValueError):
    """One or more settings are missing or malformed; ``problems`` holds one line per setting."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./traza.db"
    redis_url: str | None = None
    config_path: Path = Path("./traza.yml")
    host: str = "127.0.0.1"
    port: int = 8000
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_api_url: str = "https://slack.com/api/"
    whatsapp_access_token: str | None = field(default=None, repr=False)
    whatsapp_app_secret: str | None = field(default=None, repr=False)
    whatsapp_verify_token: str | None = field(default=None, repr=False)
    graph_api_url: str = "https://graph.facebook.com/v25.0"
    api_token: str | None = field(default=None, repr=False)
    slack_pace: float = 1.0
    log_level: str = "INFO"
    worker_concurrency: int = 16
    max_webhook_bytes: int = 4 * 1024 * 1024
    environment: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The variables read at start-up, for secrets ``traza.yml`` names (``secret_env``, ``token_env``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | None = ".env") -> Settings:
        """Read settings from ``environ`` (default: the process environment) over an optional ``.env``."""
        source: dict[str, str] = {}
        if env_file and Path(env_file).is_file():
            source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        source.update(os.environ if environ is None else environ)
        return _parse(source)

    def missing_for_serve(self) -> list[str]:
        """Credentials ``serve`` and ``worker`` cannot start without, as one line each."""
        values = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "WHATSAPP_ACCESS_TOKEN": self.whatsapp_access_token,
            "WHATSAPP_APP_SECRET": self.whatsapp_app_secret,
            "WHATSAPP_VERIFY_TOKEN": self.whatsapp_verify_token,
        }
        return [
            f"{name} is not set: set it in the environment or in .env ({HOW_TO_SET[name]})"
            for name, value in values.items()
            if not value
        ]

    def named_secrets(self, names: list[str]) -> dict[str, str]:
        """The values of the secret variables ``traza.yml`` names; unset ones are left out."""
        return {n: v for n in names if (v := self.environment.get(n, "").strip())}

    def missing_named(self, names: list[str]) -> list[str]:
        """One line per secret variable ``traza.yml`` names that is not set."""
        found = self.named_secrets(names)
        return [
            f"{n} is not set: traza.yml names it as holding a secret (webhooks secret_env or enrichment "
            "token_env); set it in the environment or in .env"
            for n in dict.fromkeys(names)
            if n not in found
        ]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secrets(self) -> list[str]:
        """Secret values in use, so log filters and tests can make sure none is ever printed."""
        names = {f.name for f in fields(self) if f.name.upper() in SECRET_NAMES}
        found = [v for n in sorted(names) if isinstance(v := getattr(self, n), str) and v]
        for url in (self.database_url, self.redis_url):
            password = urlsplit(url).password if url else None
            if password:
                found.append(password)
        return found


def _parse(env: Mapping[str, str]) -> Settings:
    problems: list[str] = []
    kwargs: dict[str, object] = {}

    def text(name: str, attr: str) -> None:
        value = env.get(name, "").strip()
        if value:
            kwargs[attr] = value

    for name, attr in [
        ("TRAZA_HOST", "host"),
        ("SLACK_BOT_TOKEN", "slack_bot_token"),
        ("SLACK_SIGNING_SECRET", "slack_signing_secret"),
        ("WHATSAPP_ACCESS_TOKEN", "whatsapp_access_token"),
        ("WHATSAPP_APP_SECRET", "whatsapp_app_secret"),
        ("WHATSAPP_VERIFY_TOKEN", "whatsapp_verify_token"),
        ("TRAZA_API_TOKEN", "api_token"),
    ]:
        text(name, attr)
    _database_url(env, kwargs, problems)
    _urls(env, kwargs, problems)
    _numbers(env, kwargs, problems)
    if config := env.get("TRAZA_CONFIG", "").strip():
        kwargs["config_path"] = Path(config)
    level = env.get("TRAZA_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        problems.append(f"TRAZA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    kwargs["log_level"] = level
    if problems:
        raise SettingsError(problems)
    kwargs["environment"] = dict(env)
    return Settings(**kwargs)  # type: ignore[arg-type]


def _database_url(env: Mapping[str, str], kwargs: dict[str, object], problems: list[str]) -> None:
    url = env.get("TRAZA_DATABASE_URL", "").strip()
    if not url:
        return
    for prefix, driver in [
        ("postgresql+asyncpg://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ]:
        if url.startswith(prefix):
            kwargs["database_url"] = driver + url.removeprefix(prefix)
            return
    problems.append(
        "TRAZA_DATABASE_URL must be a PostgreSQL (postgresql+asyncpg://…) or SQLite "
        "(sqlite+aiosqlite:///path) URL"
    )


def _urls(env: Mapping[str, str], kwargs: dict[str, object], problems: list[str]) -> None:
    for name, attr in [
        ("TRAZA_SLACK_API_URL", "slack_api_url"),
        ("TRAZA_GRAPH_API_URL", "graph_api_url"),
        ("TRAZA_REDIS_URL", "redis_url"),
    ]:
        value = env.get(name, "").strip()
        if not value:
            continue
        schemes = ("redis://", "rediss://", "unix://") if attr == "redis_url" else ("http://", "https://")
        if not value.startswith(schemes):
            problems.append(f"{name} must start with {' or '.join(schemes)}")
            continue
        if attr == "slack_api_url" and not value.endswith("/"):
            value += "/"
        if attr == "graph_api_url":
            value = value.rstrip("/")
        kwargs[attr] = value


def _numbers(env: Mapping[str, str], kwargs: dict[str, object], problems: list[str]) -> None:
    port = env.get("TRAZA_PORT", "").strip()
    if port:
        if port.isdigit() and 0 < int(port) < 65536:
            kwargs["port"] = int(port)
        else:
            problems.append(f"TRAZA_PORT must be a port number between 1 and 65535, got {port!r}")
    pace = env.get("TRAZA_SLACK_PACE", "").strip()
    if pace:
        try:
            value = float(pace)
        except ValueError:
            value = -1.0
        if value < 0 or value != value:
            problems.append(f"TRAZA_SLACK_PACE must be a number of posts per second ≥ 0, got {pace!r}")
        else:
            kwargs["slack_pace"] = value
    workers = env.get("TRAZA_WORKER_CONCURRENCY", "").strip()
    if workers:
        if workers.isdigit() and 0 < int(workers) <= 256:
            kwargs["worker_concurrency"] = int(workers)
        else:
            problems.append(f"TRAZA_WORKER_CONCURRENCY must be an integer 1-256, got {workers!r}")
