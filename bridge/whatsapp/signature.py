"""``X-Hub-Signature-256`` verification over the exact bytes Meta sent (never a re-serialisation:
Meta signs its ``\\uXXXX``-escaped form, so hashing re-encoded JSON fails on accents and emoji).

The header is attacker-controlled: anything but ``sha256=`` and ASCII hex is simply not valid
(``hmac.compare_digest`` raises on non-ASCII text, so the comparison is done on ASCII bytes).
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not secret or not header or not header.startswith("sha256=") or not header.isascii():
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(expected, header.removeprefix("sha256=").strip().lower().encode())
