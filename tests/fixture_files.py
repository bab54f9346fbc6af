"""Loaders for the sample payloads under ``tests/fixtures/whatsapp`` (copies of the reference set).

Tests import ``wa_fixture`` for the exact bytes (signature checks, raw-body storage) and ``wa_json``
for the decoded object; ``wa_names`` lists fixture files by glob so tests can parametrise over them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WA_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "whatsapp"


def _path(name: str) -> Path:
    path = WA_FIXTURES / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(f"no WhatsApp fixture named {name!r} in {WA_FIXTURES}")
    return path


def wa_fixture(name: str) -> bytes:
    """The exact bytes of one fixture file (``"in_01_text.json"`` or ``"in_01_text"``)."""
    return _path(name).read_bytes()


def wa_json(name: str) -> dict[str, Any]:
    """One fixture file decoded; every WhatsApp fixture is a JSON object."""
    data = json.loads(wa_fixture(name))
    if not isinstance(data, dict):
        raise TypeError(f"fixture {name!r} is not a JSON object")
    return data


def wa_names(pattern: str = "*.json") -> list[str]:
    """Sorted fixture file names matching ``pattern`` (``"in_*.json"``, ``"st_*.json"`` …)."""
    return sorted(path.name for path in WA_FIXTURES.glob(pattern))
