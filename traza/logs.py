"""Logging set-up: one line per record, and a filter that masks secrets (and, unless turned off, phone
numbers) in every record before it is written.

What ``SecretMask`` masks, in the message, the formatted exception and the stack:
- every configured secret value, also in its percent-encoded and decoded forms (a database
  password is written in a URL encoded);
- credentials that are recognisable whatever their value, so a rotated or foreign token quoted in
  an httpx or slack_sdk error or a header dump is hidden too: ``Bearer``/``Basic`` authorization
  values of 8 characters or more, Slack tokens (``xoxb-…``, ``xapp-…``), ``access_token=``;
- with ``mask_phones``, phone-number-like runs of 8 to 15 digits (optionally after ``+``) not
  touching a letter, digit, dot or underscore, keeping only the last four digits
  (``+54911…0009`` → ``+*********0009``), so an operator can still tell customers apart.
A record whose message cannot be formatted is left for the handler to report, never raised.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import quote, unquote

CREDENTIALS = re.compile(
    r"(?i)(?P<keep>\b(?:bearer|basic)\s+|access_token=)[A-Za-z0-9._~+/=%-]{8,}"
    r"|\bxox[abpcdeors]-[A-Za-z0-9-]+|\bxapp-[A-Za-z0-9-]+"
)
PHONE = re.compile(r"(?<![\w.+])(?P<plus>\+?)(?P<hidden>\d{4,11})(?P<tail>\d{4})(?!\w|\.\d)")


def mask_phones(text: str) -> str:
    return PHONE.sub(lambda m: m["plus"] + "*" * len(m["hidden"]) + m["tail"], text)


class SecretMask(logging.Filter):
    def __init__(self, secrets: Iterable[str], *, phones: bool = False) -> None:
        super().__init__()
        values = {v for s in secrets for v in (s, quote(s, safe=""), unquote(s))}
        self.secrets = sorted({s for s in values if len(s) >= 4}, key=len, reverse=True)
        self.phones = phones

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        text = CREDENTIALS.sub(lambda m: (m["keep"] or "") + "***", text)
        return mask_phones(text) if self.phones else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: the handler reports it, the caller must not fail
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def mask_more(secrets: Iterable[str]) -> None:
    """Mask more secret values (those ``traza.yml`` names, known once the file is read)."""
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, SecretMask):
                values = {v for s in secrets for v in (s, quote(s, safe=""), unquote(s))}
                merged = {*found.secrets, *(s for s in values if len(s) >= 4)}
                found.secrets = sorted(merged, key=len, reverse=True)


def configure(level: str, secrets: Iterable[str], *, mask_phones: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMask(secrets, phones=mask_phones))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in (
        "httpx",
        "httpcore",
        "aiosqlite",
        "alembic",
        "slack_bolt.App",
        "slack_sdk.web.async_base_client",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
