"""The state of the fake Slack workspace and its storage rules: messages and threads, files, faults.

Split from :mod:`traza.sandbox.fakes.slack` by responsibility (``SlackStore`` -> ``SlackMethods`` ->
``SlackHttp`` -> ``FakeSlack``). Everything here runs with ``self._lock`` held by the caller unless a
method takes the lock itself.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import mimetypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"
TEAM_ID = "T0ACME0001"
APP_ID = "A0TRAZA001"
BOT_NAME = "traza"
WORKSPACE_URL = "https://acme.slack.com/"
FIRST_TS_SECONDS = 1767268800

# Arguments that arrive as JSON strings when sent as form fields or query parameters.
JSON_ARGS = ("blocks", "attachments", "metadata", "view", "files", "channels")
NO_TOKEN_METHODS = frozenset({"api.test"})

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``method`` is the Web API method (``chat.postMessage``), or ``"upload"`` for the raw
    files_upload_v2 step 2, or ``"response_url"`` for a delayed response. ``headers`` has
    lower-cased names. ``status``/``response`` are what the fake answered.
    """

    method: str
    args: JsonDict
    headers: dict[str, str]
    at: float
    status: int = 200
    response: JsonDict | None = None


@dataclass
class SlackFault:
    kind: Literal["error", "ratelimit", "server_error"]
    remaining: int
    error: str = ""
    retry_after: int = 1
    extra: JsonDict = field(default_factory=dict)


@dataclass
class SlackFile:
    id: str
    filename: str
    length: int
    title: str
    created: int
    user: str = BOT_USER_ID
    data: bytes | None = None
    mimetype: str = ""
    completed: bool = False
    shares: dict[str, dict[str, list[JsonDict]]] = field(default_factory=dict)
    alt_txt: str | None = None


@dataclass(frozen=True)
class CallContext:
    base_url: str
    token: str | None


class SlackError(Exception):
    """Raised inside handlers to answer ``{"ok": false, "error": ...}`` with HTTP 200."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac or "0")


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def str_arg(args: JsonDict, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return str(value)


def require(args: JsonDict, key: str, error: str) -> str:
    value = str_arg(args, key)
    if value is None:
        raise SlackError(error)
    return value


class SlackStore:
    """In-memory state of the fake workspace (see :class:`traza.sandbox.fakes.slack.FakeSlack`)."""

    app: Any
    _handlers: dict[str, Callable[[JsonDict, CallContext], JsonDict]]

    def __init__(self, token: str | None = None, *, file_share_delay: float = 0.0) -> None:
        self.token = token
        self.file_share_delay = file_share_delay
        self._lock = threading.Lock()
        self._ts_counter = itertools.count(1)
        self._file_counter = itertools.count(1)
        self._view_counter = itertools.count(1)
        self._calls: list[Call] = []
        self._messages: dict[str, dict[str, JsonDict]] = {}
        self._broadcast: set[tuple[str, str]] = set()
        self._ephemerals: list[JsonDict] = []
        self._views: list[JsonDict] = []
        self._files: dict[str, SlackFile] = {}
        self._file_completed_at: dict[str, float] = {}
        self._users: dict[str, JsonDict] = {}
        self._response_urls: dict[str, tuple[str | None, str | None]] = {}
        self._faults: dict[str, list[SlackFault]] = {}
        self._delays: dict[str, float] = {}

    # ------------------------------------------------------------------ internals

    async def _apply_delay(self, method: str) -> None:
        with self._lock:
            seconds = self._delays.get(method, 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _add_fault(self, method: str, fault: SlackFault) -> None:
        if fault.remaining < 1:
            return
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> SlackFault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.pop(0)
        return fault

    def _next_ts(self) -> str:
        n = next(self._ts_counter)
        return f"{FIRST_TS_SECONDS + n - 1}.{(n * 100) % 1_000_000:06d}"

    def _store(
        self,
        channel: str,
        msg: JsonDict,
        *,
        thread_ts: str | None = None,
        ts: str | None = None,
        broadcast: bool = False,
    ) -> str:
        """Store ``msg`` (lock held); resolves ``thread_ts`` to the thread root; returns ts."""
        msgs = self._messages.setdefault(channel, {})
        root: JsonDict | None = None
        if thread_ts is not None:
            root = msgs.get(thread_ts)
            if root is None:
                raise SlackError("thread_not_found")
            thread_ts = str(root.get("thread_ts", root["ts"]))
            root = msgs[thread_ts]
        ts = ts or self._next_ts()
        msg["ts"] = ts
        if root is not None and thread_ts is not None:
            msg["thread_ts"] = thread_ts
            msg["parent_user_id"] = root.get("user", BOT_USER_ID)
            if broadcast:
                msg["subtype"] = "thread_broadcast"
                self._broadcast.add((channel, ts))
            root["thread_ts"] = thread_ts
            root["reply_count"] = int(root.get("reply_count", 0)) + 1
            root["latest_reply"] = ts
            author = str(msg.get("user", BOT_USER_ID))
            users: list[str] = root.setdefault("reply_users", [])
            if author not in users:
                users.append(author)
            root["reply_users_count"] = len(users)
            root.setdefault("is_locked", False)
            root.setdefault("subscribed", False)
        msgs[ts] = msg
        return ts

    def _find(self, channel: str, ts: str) -> JsonDict:
        msg = self._messages.get(channel, {}).get(ts)
        if msg is None:
            raise SlackError("message_not_found")
        return msg

    def _replies(self, channel: str, thread_ts: str) -> list[JsonDict]:
        msgs = self._messages.get(channel, {})
        out = [m for m in msgs.values() if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]
        return sorted(out, key=lambda m: ts_key(m["ts"]))

    def _new_file(
        self, filename: str, length: int, *, title: str | None = None, user: str = BOT_USER_ID
    ) -> SlackFile:
        fid = f"F0FAKE{next(self._file_counter):05d}"
        mime = mimetypes.guess_type(filename)[0] or ""
        f = SlackFile(
            id=fid,
            filename=filename,
            length=length,
            title=title or filename,
            created=int(time.time()),
            user=user,
            mimetype=mime,
        )
        self._files[fid] = f
        return f

    def _file_obj(self, f: SlackFile, base_url: str) -> JsonDict:
        ext = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else ""
        shown = f.shares
        done_at = self._file_completed_at.get(f.id)
        if done_at is not None and time.time() - done_at < self.file_share_delay:
            shown = {}
        url_private = f"{base_url}/files-pri/{f.id}/{f.filename}"
        return {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.filename,
            "title": f.title,
            "mimetype": f.mimetype,
            "filetype": ext,
            "pretty_type": ext.upper(),
            "user": f.user,
            "user_team": TEAM_ID,
            "editable": False,
            "size": len(f.data) if f.data is not None else f.length,
            "mode": "hosted",
            "is_external": False,
            "is_public": "public" in shown,
            "url_private": url_private,
            "url_private_download": url_private + "?download=1",
            "permalink": f"{WORKSPACE_URL}files/{f.user}/{f.id}/{f.filename}",
            "shares": copy.deepcopy(shown),
            "channels": sorted(shown.get("public", {})),
            "groups": [],
            "ims": [],
            "alt_txt": f.alt_txt,
            "file_access": "visible",
        }

    def _message_out(self, msg: JsonDict, include_metadata: bool) -> JsonDict:
        out = copy.deepcopy(msg)
        if not include_metadata:
            out.pop("metadata", None)
        return out
