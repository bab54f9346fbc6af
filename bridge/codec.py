"""A small, explicit JSON codec for the bridge's frozen dataclasses (inbound messages and friends).

Jobs and message links persist typed objects; this turns them into JSON-ready values tagged with
their class name and back, so the worker rebuilds exactly the object the webhook parser produced.
Only classes registered here can be decoded, which keeps stored JSON from naming arbitrary types.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from bridge import inbound

_REGISTRY: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in vars(inbound).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == inbound.__name__
}


def encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"_t": type(value).__name__}
        for f in dataclasses.fields(value):
            out[f.name] = encode(getattr(value, f.name))
        return out
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    if isinstance(value, datetime):
        return {"_dt": value.isoformat()}
    return value


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    if isinstance(value, dict):
        if "_dt" in value:
            return datetime.fromisoformat(value["_dt"])
        cls = _REGISTRY.get(value.get("_t", ""))
        if cls is None:
            raise ValueError(f"cannot decode an object tagged {value.get('_t')!r}")
        kwargs = {k: decode(v) for k, v in value.items() if k != "_t"}
        field_names = {f.name for f in dataclasses.fields(cls)}
        for name in field_names & kwargs.keys():
            if isinstance(kwargs[name], tuple) and name in _LIST_FIELDS.get(cls.__name__, ()):
                kwargs[name] = list(kwargs[name])
        return cls(**{k: v for k, v in kwargs.items() if k in field_names})
    return value


# Fields typed as ``list`` rather than ``tuple`` (only on the mutable ParsedWebhook container).
_LIST_FIELDS = {"ParsedWebhook": ("messages", "statuses", "errors", "skipped")}
