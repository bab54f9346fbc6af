"""Typed reads from decoded Meta JSON, shared by the webhook parsers of ``bridge.whatsapp``.

This module owns the one rule for untrusted JSON: a *required* field that is missing or of the
wrong type raises ``Invalid`` (the caller turns it into a ``SkippedUpdate``), while an *optional*
field of the wrong type reads as absent. Strings are returned verbatim (never stripped or
re-cased) except that a NUL character, which PostgreSQL cannot store, reads as U+FFFD;
timestamps become tz-aware UTC datetimes, and ``errors[]`` arrays become ``RemoteError`` tuples.
Nothing here raises anything but ``Invalid``, whatever it is handed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from bridge.inbound import RemoteError

JsonObject = dict[str, Any]

_MAX_UNIX_DIGITS = 11  # up to year 5138; longer values overflow datetime on some platforms
_MAX_UNIX = 10**_MAX_UNIX_DIGITS


class Invalid(Exception):
    """A required part of one update is missing or has the wrong type."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def type_name(value: object) -> str:
    """``value``'s JSON type with its article (``"an array"``), for skip reasons; never the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _storable(text: str) -> str:
    """``text`` with U+0000 shown as U+FFFD: PostgreSQL cannot store NUL in text or JSON."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def req_str(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if isinstance(value, str):
        return _storable(value)
    raise Invalid(f"{key} missing" if value is None else f"{key} is {type_name(value)}")


def req_nonempty_str(obj: JsonObject, key: str) -> str:
    value = req_str(obj, key)
    if not value:
        raise Invalid(f"{key} is empty")
    return value


def req_id(obj: JsonObject, key: str, max_len: int) -> str:
    """A non-empty identifier no longer than ``max_len`` (Meta's are far shorter; storage is bounded)."""
    value = req_nonempty_str(obj, key)
    if len(value) > max_len:
        raise Invalid(f"{key} is longer than {max_len} characters")
    return value


def opt_str(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    return _storable(value) if isinstance(value, str) else None


def req_obj(obj: JsonObject, key: str) -> JsonObject:
    value = obj.get(key)
    if isinstance(value, dict):
        return value
    raise Invalid(f"{key} missing" if value is None else f"{key} is {type_name(value)}")


def opt_obj(obj: JsonObject, key: str) -> JsonObject | None:
    value = obj.get(key)
    return value if isinstance(value, dict) else None


def opt_list(obj: JsonObject, key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else []


def opt_bool(obj: JsonObject, key: str) -> bool:
    return obj.get(key) is True


def req_number(obj: JsonObject, key: str) -> float:
    """A finite JSON number; a numeric string is accepted too (Meta sends numbers)."""
    value = obj.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise Invalid(f"{key} is not a number") from None
    else:
        raise Invalid(f"{key} missing" if value is None else f"{key} is {type_name(value)}")
    if not math.isfinite(number):
        raise Invalid(f"{key} is not finite")
    return number


def req_int(obj: JsonObject, key: str) -> int:
    value = obj.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _is_small_digits(value):
        return int(value)
    raise Invalid(f"{key} missing" if value is None else f"{key} is not an integer")


def _is_small_digits(text: str) -> bool:
    return 0 < len(text) <= 18 and text.isascii() and text.isdigit()


def unix_time(obj: JsonObject, key: str = "timestamp") -> datetime:
    """Meta's unix-seconds string (``"1775041200"``) as a tz-aware UTC datetime."""
    value = obj.get(key)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > _MAX_UNIX_DIGITS:
            raise Invalid(f"{key} out of range")
        seconds = int(value)
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _MAX_UNIX:
        seconds = value
    else:
        raise Invalid(f"{key} missing" if value is None else f"{key} is not unix seconds")
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Invalid(f"{key} out of range") from None


def remote_errors(raw: object) -> tuple[RemoteError, ...]:
    """An ``errors[]`` array; items that are not objects are ignored, a missing code reads as 0."""
    if not isinstance(raw, list) or not raw:
        return ()
    return tuple(_remote_error(item) for item in raw if isinstance(item, dict))


def _remote_error(raw: JsonObject) -> RemoteError:
    code = raw.get("code")
    if isinstance(code, str) and _is_small_digits(code):
        code = int(code)
    elif not isinstance(code, int) or isinstance(code, bool):
        code = 0
    data = opt_obj(raw, "error_data")
    details = opt_str(data, "details") if data is not None else None
    return RemoteError(
        code=code,
        title=opt_str(raw, "title") or "",
        message=opt_str(raw, "message") or "",
        details=details or "",
    )
