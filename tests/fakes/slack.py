"""A stateful fake of the Slack Web API (``/api/{method}``) for tests and the local sandbox.

The fake is a Starlette ASGI app (``FakeSlack().app``) that keeps channels, messages, threads,
reactions, files, views and ``response_url`` posts in memory, so the product (in-process or as a
``traza serve`` subprocess) can talk to it over real HTTP while the test asserts on its state::

    with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.url + "/api/")
        ...
        slack.wait_for(lambda: slack.thread("C0SUPTEAMA", parent_ts))

Arguments are accepted the way ``slack_sdk`` sends them (JSON body, form body or query string;
see slack-platform.md §1.5). All state is guarded by a ``threading.Lock``; every accessor returns
deep copies, so tests may freely mutate what they get back.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.fakes.server import FakeServer

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
]

BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"
TEAM_ID = "T0ACME0001"
APP_ID = "A0TRAZA001"
BOT_NAME = "traza"
WORKSPACE_URL = "https://acme.slack.com/"
FIRST_TS_SECONDS = 1767268800

# Arguments that arrive as JSON strings when sent as form fields or query parameters.
_JSON_ARGS = ("blocks", "attachments", "metadata", "view", "files", "channels")
_NO_TOKEN_METHODS = frozenset({"api.test"})

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
class _Fault:
    kind: Literal["error", "ratelimit", "server_error"]
    remaining: int
    error: str = ""
    retry_after: int = 1
    extra: JsonDict = field(default_factory=dict)


@dataclass
class _File:
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
class _Ctx:
    base_url: str
    token: str | None


class SlackError(Exception):
    """Raised inside handlers to answer ``{"ok": false, "error": ...}`` with HTTP 200."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac or "0")


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _str_arg(args: JsonDict, key: str) -> str | None:
    value = args.get(key)
    if value is None or value == "":
        return None
    return str(value)


def _require(args: JsonDict, key: str, error: str) -> str:
    value = _str_arg(args, key)
    if value is None:
        raise SlackError(error)
    return value


class FakeSlack(FakeServer):
    """In-memory Slack workspace "Acme" with one bot user (``U0BOT00001`` / ``B0BOT00001``).

    Parameters:
        token: if set, every Web API call must carry exactly this bearer token
            (otherwise ``invalid_auth``); if None any non-empty token is accepted.
        file_share_delay: seconds after ``files.completeUploadExternal`` before ``files.info``
            reports the share (real Slack shares asynchronously; 0 = immediately).
    """

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
        self._files: dict[str, _File] = {}
        self._file_completed_at: dict[str, float] = {}
        self._users: dict[str, JsonDict] = {}
        self._response_urls: dict[str, tuple[str | None, str | None]] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._handlers: dict[str, Callable[[JsonDict, _Ctx], JsonDict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "conversations.replies": self._conversations_replies,
            "conversations.history": self._conversations_history,
            "conversations.info": self._conversations_info,
            "conversations.join": self._conversations_info,
            "conversations.open": self._conversations_open,
            "users.info": self._users_info,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/upload/{file_id}", self._upload_endpoint, methods=["POST"]),
                Route("/response_url/{token}", self._response_url_endpoint, methods=["POST"]),
                Route("/files-pri/{file_id}/{name}", self._download_endpoint, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ test-facing helpers

    @property
    def calls(self) -> list[Call]:
        """Every request received so far (copy), in arrival order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """Calls to one method (``"chat.postMessage"``, ``"upload"``, ``"response_url"``…)."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def posts(self) -> list[Call]:
        """All ``chat.postMessage`` calls, including ones answered with an error or 429."""
        return self.calls_to("chat.postMessage")

    def messages_in(self, channel: str) -> list[JsonDict]:
        """Top-level messages of ``channel`` in ts order (thread replies excluded)."""
        with self._lock:
            msgs = self._messages.get(channel, {})
            out = [m for m in msgs.values() if m.get("thread_ts", m["ts"]) == m["ts"]]
            return copy.deepcopy(sorted(out, key=lambda m: _ts_key(m["ts"])))

    def thread(self, channel: str, thread_ts: str) -> list[JsonDict]:
        """Replies in the thread rooted at ``thread_ts`` (parent excluded), in ts order."""
        with self._lock:
            return copy.deepcopy(self._replies(channel, thread_ts))

    def message(self, channel: str, ts: str) -> JsonDict | None:
        """One stored message (copy) or None."""
        with self._lock:
            msg = self._messages.get(channel, {}).get(ts)
            return copy.deepcopy(msg) if msg is not None else None

    def all_messages(self) -> dict[str, list[JsonDict]]:
        """Every stored message (parents and replies) per channel, in ts order."""
        with self._lock:
            return {
                ch: copy.deepcopy(sorted(msgs.values(), key=lambda m: _ts_key(m["ts"])))
                for ch, msgs in self._messages.items()
            }

    def reactions(self, channel: str, ts: str) -> list[str]:
        """Reaction names on a message (empty if none or unknown)."""
        with self._lock:
            msg = self._messages.get(channel, {}).get(ts) or {}
            return [r["name"] for r in msg.get("reactions", [])]

    def ephemerals(self, channel: str | None = None) -> list[JsonDict]:
        """``chat.postEphemeral`` messages (args plus ``message_ts``), optionally per channel."""
        with self._lock:
            out = [e for e in self._ephemerals if channel is None or e.get("channel") == channel]
            return copy.deepcopy(out)

    def views(self, kind: str | None = None) -> list[JsonDict]:
        """Recorded ``views.*`` calls as ``{"method", "args", "view_id"}``; filter by method."""
        with self._lock:
            return copy.deepcopy([v for v in self._views if kind is None or v["method"] == kind])

    def files(self) -> dict[str, JsonDict]:
        """Files known to the fake: id -> file object (as ``files.info`` would show it)."""
        with self._lock:
            base = self._runner.url if self._runner is not None else ""
            return {fid: self._file_obj(f, base) for fid, f in self._files.items()}

    def file_bytes(self, file_id: str) -> bytes | None:
        """Raw bytes uploaded for ``file_id`` (None if not uploaded)."""
        with self._lock:
            f = self._files.get(file_id)
            return f.data if f else None

    def responses(self, token: str | None = None) -> list[JsonDict]:
        """Bodies POSTed to response URLs (each with ``_token``), optionally for one token."""
        with self._lock:
            out = [
                c.args
                for c in self._calls
                if c.method == "response_url" and (token is None or c.args.get("_token") == token)
            ]
            return copy.deepcopy(out)

    def new_response_url(self, channel: str | None = None, thread_ts: str | None = None) -> str:
        """A fresh ``response_url`` on this fake. If ``channel`` is given, an
        ``"response_type": "in_channel"`` response is also stored as a message there
        (in ``thread_ts``'s thread if given)."""
        token = secrets.token_hex(8)
        with self._lock:
            self._response_urls[token] = (channel, thread_ts)
        return f"{self.url}/response_url/{token}"

    def set_user(
        self,
        user_id: str,
        *,
        display_name: str | None = None,
        real_name: str | None = None,
        **fields: Any,
    ) -> None:
        """Override the ``users.info`` profile of ``user_id`` (default display_name is "",
        real_name is "Agent <id>"). Extra keyword fields go on the user object (e.g. tz,
        is_bot, deleted)."""
        with self._lock:
            entry = self._users.setdefault(user_id, {})
            if display_name is not None:
                entry["display_name"] = display_name
            if real_name is not None:
                entry["real_name"] = real_name
            entry.update(fields)

    def inject_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0AGENT001",
        thread_ts: str | None = None,
        ts: str | None = None,
        **fields: Any,
    ) -> str:
        """Store a message as if a human posted it (no call is recorded); returns its ts.
        Useful to seed threads that ``conversations.replies``/``history`` should return."""
        with self._lock:
            msg: JsonDict = {"type": "message", "user": user, "text": text, "team": TEAM_ID}
            msg.update(fields)
            return self._store(channel, msg, thread_ts=thread_ts, ts=ts)

    def add_file(
        self,
        data: bytes,
        filename: str,
        *,
        mimetype: str | None = None,
        user: str = "U0AGENT001",
        title: str | None = None,
    ) -> JsonDict:
        """Seed a file (e.g. one an agent shared) downloadable at its ``url_private`` with a
        bearer token; returns the file object to put in an event's ``files``."""
        with self._lock:
            f = self._new_file(filename, len(data), title=title, user=user)
            f.data = data
            f.completed = True
            if mimetype:
                f.mimetype = mimetype
            return self._file_obj(f, self.url)

    def fail_next(self, method: str, error: str = "not_in_channel", times: int = 1, **extra: Any) -> None:
        """Answer the next ``times`` calls to ``method`` with HTTP 200 ``{"ok": false,
        "error": error, **extra}`` (e.g. ``needed="chat:write.customize"``) without side effects."""
        self._add_fault(method, _Fault("error", times, error=error, extra=dict(extra)))

    def rate_limit_next(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls with HTTP 429, ``Retry-After``, ``ratelimited``."""
        self._add_fault(method, _Fault("ratelimit", times, retry_after=retry_after))

    def server_error_next(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` (or ``"upload"``) with HTTP 500."""
        self._add_fault(method, _Fault("server_error", times))

    def delay(self, method: str, seconds: float) -> None:
        """Sleep ``seconds`` before answering every call to ``method`` (0 removes the delay)."""
        with self._lock:
            if seconds > 0:
                self._delays[method] = seconds
            else:
                self._delays.pop(method, None)

    def clear_faults(self) -> None:
        """Drop pending injected faults and delays."""
        with self._lock:
            self._faults.clear()
            self._delays.clear()

    def post_times(self, channel: str, *, include_failed: bool = True) -> list[float]:
        """Wall-clock arrival times of ``chat.postMessage`` calls for ``channel``."""
        return [
            c.at
            for c in self.posts()
            if c.args.get("channel") == channel
            and (include_failed or (c.response is not None and c.response.get("ok")))
        ]

    def max_posts_per_window(
        self, channel: str, window_seconds: float, *, include_failed: bool = True
    ) -> int:
        """Largest number of ``chat.postMessage`` calls to ``channel`` that arrived within any
        sliding window of ``window_seconds`` (attempts, incl. 429s, unless ``include_failed``
        is False). ``max_posts_per_window(C, 1.0) <= 1`` asserts ~1 msg/s pacing."""
        times = sorted(self.post_times(channel, include_failed=include_failed))
        best = 0
        start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window_seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    def wait_for_calls(self, method: str, n: int = 1, timeout: float = 5.0) -> list[Call]:
        """Block until at least ``n`` calls to ``method`` arrived; return them."""

        def ready() -> list[Call]:
            found = self.calls_to(method)
            return found if len(found) >= n else []

        return self.wait_for(ready, timeout)

    def wait_for_thread(
        self, channel: str, thread_ts: str, n: int = 1, timeout: float = 5.0
    ) -> list[JsonDict]:
        """Block until the thread has at least ``n`` replies; return them."""

        def ready() -> list[JsonDict]:
            replies = self.thread(channel, thread_ts)
            return replies if len(replies) >= n else []

        return self.wait_for(ready, timeout)

    def reset(self) -> None:
        """Forget all calls, messages, files, views, users, faults (the ts counter keeps going)."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._broadcast.clear()
            self._ephemerals.clear()
            self._views.clear()
            self._files.clear()
            self._file_completed_at.clear()
            self._users.clear()
            self._response_urls.clear()
            self._faults.clear()
            self._delays.clear()

    # ------------------------------------------------------------------ HTTP endpoints

    async def _endpoint(self, request: Request) -> Response:
        method = str(request.path_params["method"])
        args = await _read_args(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = time.time()
        await self._apply_delay(method)
        token = _bearer(headers) or _str_arg(args, "token")
        ctx = _Ctx(base_url=str(request.base_url).rstrip("/"), token=token)
        status = 200
        extra_headers: dict[str, str] = {}
        with self._lock:
            fault = self._take_fault(method)
            if fault is not None:
                status, body, extra_headers = _fault_response(fault)
            else:
                body = self._dispatch(method, args, ctx)
            self._calls.append(Call(method, args, headers, now, status, copy.deepcopy(body)))
        return JSONResponse(body, status_code=status, headers=extra_headers)

    def _dispatch(self, method: str, args: JsonDict, ctx: _Ctx) -> JsonDict:
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if method not in _NO_TOKEN_METHODS:
            if not ctx.token:
                return {"ok": False, "error": "not_authed"}
            if self.token is not None and ctx.token != self.token:
                return {"ok": False, "error": "invalid_auth"}
        try:
            return handler(args, ctx)
        except SlackError as exc:
            return {"ok": False, "error": exc.error, **exc.extra}
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # Malformed input the handler did not anticipate: answer like Slack does.
            return {"ok": False, "error": "invalid_arguments", "detail": repr(exc)}

    async def _upload_endpoint(self, request: Request) -> Response:
        file_id = str(request.path_params["file_id"])
        data = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = time.time()
        await self._apply_delay("upload")
        args: JsonDict = {"file_id": file_id, "length": len(data)}
        with self._lock:
            fault = self._take_fault("upload")
            if fault is not None:
                status, body, extra = _fault_response(fault)
                self._calls.append(Call("upload", args, headers, now, status, body))
                return JSONResponse(body, status_code=status, headers=extra)
            f = self._files.get(file_id)
            if f is None:
                self._calls.append(Call("upload", args, headers, now, 404, None))
                return PlainTextResponse("file not found", status_code=404)
            f.data = data
            self._calls.append(Call("upload", args, headers, now, 200, None))
        return PlainTextResponse(f"OK - {len(data)}")

    async def _response_url_endpoint(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        body: JsonDict
        try:
            parsed = json.loads(raw or b"{}")
            body = parsed if isinstance(parsed, dict) else {"_raw": parsed}
        except ValueError:
            form = dict(parse_qsl(raw.decode("utf-8", "replace")))
            body = json.loads(form["payload"]) if "payload" in form else dict(form)
        args: JsonDict = {**body, "_token": token}
        with self._lock:
            channel, thread_ts = self._response_urls.get(token, (None, None))
            if channel and body.get("response_type") == "in_channel":
                msg: JsonDict = {
                    "type": "message",
                    "user": BOT_USER_ID,
                    "bot_id": BOT_ID,
                    "app_id": APP_ID,
                    "text": body.get("text", ""),
                }
                if body.get("blocks"):
                    msg["blocks"] = body["blocks"]
                self._store(channel, msg, thread_ts=thread_ts)
            self._calls.append(Call("response_url", args, headers, time.time(), 200, None))
        return JSONResponse({"ok": True})

    async def _download_endpoint(self, request: Request) -> Response:
        file_id = str(request.path_params["file_id"])
        token = _bearer({k.lower(): v for k, v in request.headers.items()})
        with self._lock:
            f = self._files.get(file_id)
            if not token or (self.token is not None and token != self.token):
                # Real Slack answers an HTML login page with 200; a 401 is friendlier to debug.
                return PlainTextResponse("not_authed", status_code=401)
            if f is None or f.data is None:
                return PlainTextResponse("file_not_found", status_code=404)
            return Response(f.data, media_type=f.mimetype or "application/octet-stream")

    # ------------------------------------------------------------------ internals

    async def _apply_delay(self, method: str) -> None:
        with self._lock:
            seconds = self._delays.get(method, 0.0)
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _add_fault(self, method: str, fault: _Fault) -> None:
        if fault.remaining < 1:
            return
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
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
        return sorted(out, key=lambda m: _ts_key(m["ts"]))

    def _new_file(
        self, filename: str, length: int, *, title: str | None = None, user: str = BOT_USER_ID
    ) -> _File:
        fid = f"F0FAKE{next(self._file_counter):05d}"
        mime = mimetypes.guess_type(filename)[0] or ""
        f = _File(
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

    def _file_obj(self, f: _File, base_url: str) -> JsonDict:
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

    # ------------------------------------------------------------------ Web API methods

    def _api_test(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        return {"ok": True, "args": {k: v for k, v in args.items() if k != "token"}}

    def _auth_test(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Acme",
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if text is not None and len(str(text)) > 40_000:
            raise SlackError("msg_too_long")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            raise SlackError("invalid_blocks")
        msg: JsonDict = {"type": "message", "text": str(text or "")}
        username = _str_arg(args, "username")
        icon_url = _str_arg(args, "icon_url")
        icon_emoji = _str_arg(args, "icon_emoji")
        if username or icon_url or icon_emoji:
            msg["subtype"] = "bot_message"
            if username:
                msg["username"] = username
            icons: JsonDict = {}
            if icon_url:
                icons["image_48"] = icon_url
                msg["icon_url"] = icon_url
            if icon_emoji:
                icons["emoji"] = icon_emoji
            if icons:
                msg["icons"] = icons
        else:
            msg["user"] = BOT_USER_ID
        msg.update({"bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID})
        if blocks:
            msg["blocks"] = blocks
        if attachments:
            msg["attachments"] = attachments
        if isinstance(args.get("metadata"), dict):
            msg["metadata"] = args["metadata"]
        thread_ts = _str_arg(args, "thread_ts")
        ts = self._store(channel, msg, thread_ts=thread_ts, broadcast=_truthy(args.get("reply_broadcast")))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": copy.deepcopy(msg),
            "response_metadata": {"warnings": []},
        }

    def _chat_update(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        ts = _require(args, "ts", "message_not_found")
        msg = self._find(channel, ts)
        if "text" in args:
            msg["text"] = str(args["text"] or "")
        for key in ("blocks", "attachments"):
            if key in args:
                if args[key]:
                    msg[key] = args[key]
                else:
                    msg.pop(key, None)
        if isinstance(args.get("metadata"), dict):
            msg["metadata"] = args["metadata"]
        msg["edited"] = {"user": BOT_USER_ID, "ts": f"{int(time.time())}.000000"}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg.get("text", ""),
            "message": copy.deepcopy(msg),
        }

    def _chat_delete(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        ts = _require(args, "ts", "message_not_found")
        self._find(channel, ts)
        del self._messages[channel][ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        _require(args, "channel", "channel_not_found")
        _require(args, "user", "user_not_found")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        ts = self._next_ts()
        self._ephemerals.append({**copy.deepcopy(args), "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        ts = _require(args, "message_ts", "message_not_found")
        msg = self._find(channel, ts)
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        root = msg.get("thread_ts")
        if root and root != ts:
            link += f"?thread_ts={root}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _reaction_target(self, args: JsonDict) -> tuple[JsonDict, str]:
        channel = _require(args, "channel", "channel_not_found")
        ts = _require(args, "timestamp", "no_item_specified")
        name = _require(args, "name", "invalid_name").strip(":")
        return self._find(channel, ts), name

    def _reactions_add(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        msg, name = self._reaction_target(args)
        reactions: list[JsonDict] = msg.setdefault("reactions", [])
        for r in reactions:
            if r["name"] == name:
                if BOT_USER_ID in r["users"]:
                    raise SlackError("already_reacted")
                r["users"].append(BOT_USER_ID)
                r["count"] += 1
                return {"ok": True}
        reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        return {"ok": True}

    def _reactions_remove(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        msg, name = self._reaction_target(args)
        reactions: list[JsonDict] = msg.get("reactions", [])
        for r in reactions:
            if r["name"] == name and BOT_USER_ID in r["users"]:
                r["users"].remove(BOT_USER_ID)
                r["count"] -= 1
                if r["count"] <= 0:
                    reactions.remove(r)
                if not reactions:
                    msg.pop("reactions", None)
                return {"ok": True}
        raise SlackError("no_reaction")

    @staticmethod
    def _page(items: list[JsonDict], args: JsonDict, default_limit: int) -> JsonDict:
        try:
            limit = int(args.get("limit") or default_limit)
            offset = int(str(args.get("cursor") or "offset:0").removeprefix("offset:"))
        except ValueError as exc:
            raise SlackError("invalid_cursor") from exc
        limit = max(1, min(limit, 1000))
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": f"offset:{offset + limit}" if more else ""},
        }

    def _conversations_replies(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        ts = _require(args, "ts", "thread_not_found")
        msg = self._messages.get(channel, {}).get(ts)
        if msg is None:
            raise SlackError("thread_not_found")
        meta = _truthy(args.get("include_all_metadata"))
        # For the ts of a reply Slack answers just that message.
        is_reply = msg.get("thread_ts", ts) != ts
        items = [msg] if is_reply else [msg, *self._replies(channel, ts)]
        items = [self._message_out(m, meta) for m in items]
        oldest, latest = _str_arg(args, "oldest"), _str_arg(args, "latest")
        if oldest:
            items = [m for m in items if _ts_key(m["ts"]) >= _ts_key(oldest)]
        if latest:
            items = [m for m in items if _ts_key(m["ts"]) <= _ts_key(latest)]
        return {"ok": True, **self._page(items, args, 1000)}

    def _conversations_history(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        meta = _truthy(args.get("include_all_metadata"))
        msgs = self._messages.get(channel, {})
        items = [
            m
            for m in msgs.values()
            if m.get("thread_ts", m["ts"]) == m["ts"] or (channel, m["ts"]) in self._broadcast
        ]
        oldest, latest = _str_arg(args, "oldest"), _str_arg(args, "latest")
        if oldest:
            items = [m for m in items if _ts_key(m["ts"]) > _ts_key(oldest)]
        if latest:
            items = [m for m in items if _ts_key(m["ts"]) < _ts_key(latest)]
        items.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        out = [self._message_out(m, meta) for m in items]
        return {"ok": True, **self._page(out, args, 100)}

    def _conversations_info(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        channel = _require(args, "channel", "channel_not_found")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": channel.startswith("C"),
                "is_private": channel.startswith("G"),
                "is_member": True,
                "is_archived": False,
            },
        }

    def _conversations_open(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        """The bot's DM with one user: ``D`` + the user id without its first letter (stable per user)."""
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            raise SlackError("not_implemented" if users else "users_list_not_supplied")
        if not users[0].startswith(("U", "W")):
            raise SlackError("user_not_found")
        channel = "D" + users[0][1:]
        return {"ok": True, "channel": {"id": channel, "is_im": True, "user": users[0]}}

    def dm_channel(self, user: str) -> str:
        """The channel ``conversations.open`` gives for ``user``."""
        return "D" + user[1:]

    def _users_info(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        user_id = _require(args, "user", "user_not_found")
        if not user_id.startswith(("U", "W")):
            raise SlackError("user_not_found")
        custom = dict(self._users.get(user_id, {}))
        is_bot = user_id == BOT_USER_ID
        real_name = str(custom.pop("real_name", BOT_NAME if is_bot else f"Agent {user_id}"))
        display_name = str(custom.pop("display_name", ""))
        first, _, last = real_name.partition(" ")
        user: JsonDict = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": real_name.lower().replace(" ", "."),
            "deleted": False,
            "real_name": real_name,
            "tz": "America/Sao_Paulo",
            "tz_label": "Brasilia Standard Time",
            "tz_offset": -10800,
            "profile": {
                "real_name": real_name,
                "real_name_normalized": real_name,
                "display_name": display_name,
                "display_name_normalized": display_name,
                "first_name": first,
                "last_name": last,
                "image_48": f"https://avatars.example/{user_id}-48.png",
                "image_72": f"https://avatars.example/{user_id}-72.png",
                "team": TEAM_ID,
            },
            "is_admin": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": 1766000000,
        }
        if is_bot:
            user["profile"]["bot_id"] = BOT_ID
        user.update(custom)
        return {"ok": True, "user": user}

    def _record_view(self, method: str, args: JsonDict, view_id: str | None = None) -> JsonDict:
        view = args.get("view")
        if not isinstance(view, dict):
            raise SlackError("invalid_arguments")
        view_id = view_id or f"V0FAKE{next(self._view_counter):05d}"
        self._views.append({"method": method, "args": copy.deepcopy(args), "view_id": view_id})
        out = copy.deepcopy(view)
        out.update({"id": view_id, "team_id": TEAM_ID, "app_id": APP_ID, "bot_id": BOT_ID})
        out.setdefault("private_metadata", "")
        out.setdefault("callback_id", "")
        out.setdefault("hash", f"{int(time.time())}.{secrets.token_hex(4)}")
        return {"ok": True, "view": out}

    def _views_open(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        _require(args, "trigger_id", "invalid_trigger_id")
        return self._record_view("views.open", args)

    def _views_update(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        view_id = _str_arg(args, "view_id")
        external_id = _str_arg(args, "external_id")
        if not view_id and not external_id:
            raise SlackError("not_found")
        return self._record_view("views.update", args, view_id)

    def _views_publish(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        _require(args, "user_id", "user_not_found")
        return self._record_view("views.publish", args)

    def _files_get_upload_url(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        filename = _require(args, "filename", "invalid_arguments")
        try:
            length = int(args.get("length") or 0)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        if length <= 0:
            raise SlackError("invalid_arguments")
        f = self._new_file(filename, length)
        f.alt_txt = _str_arg(args, "alt_txt")
        return {"ok": True, "upload_url": f"{ctx.base_url}/upload/{f.id}", "file_id": f.id}

    def _files_complete_upload(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        done: list[_File] = []
        for item in items:
            fid = str(item.get("id", "")) if isinstance(item, dict) else ""
            f = self._files.get(fid)
            if f is None or f.data is None:
                raise SlackError("file_not_found")
            if isinstance(item, dict) and item.get("title"):
                f.title = str(item["title"])
            done.append(f)
        channel = _str_arg(args, "channel_id")
        channels = args.get("channels")
        if channel is None and isinstance(channels, str) and channels:
            channel = channels.split(",")[0]
        elif channel is None and isinstance(channels, list) and channels:
            channel = str(channels[0])
        thread_ts = _str_arg(args, "thread_ts")
        now = time.time()
        files_out = [self._file_obj(f, ctx.base_url) for f in done]
        for obj in files_out:  # like real Slack: the completion reply shows no shares yet
            obj.update({"shares": {}, "channels": [], "is_public": False})
        if channel:
            msg: JsonDict = {
                "type": "message",
                "subtype": "file_share",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "text": str(args.get("initial_comment") or ""),
                "upload": True,
                "display_as_bot": False,
                "files": [self._file_obj(f, ctx.base_url) for f in done],
            }
            ts = self._store(channel, msg, thread_ts=thread_ts)
            for f in done:
                share: JsonDict = {
                    "ts": ts,
                    "channel_name": channel.lower(),
                    "team_id": TEAM_ID,
                    "share_user_id": BOT_USER_ID,
                    "source": "UNKNOWN",
                }
                if "thread_ts" in msg:
                    share["thread_ts"] = msg["thread_ts"]
                f.shares.setdefault("public", {}).setdefault(channel, []).append(share)
                self._file_completed_at[f.id] = now
            for shared in msg["files"]:
                shared.update(self._file_obj(self._files[shared["id"]], ctx.base_url))
        for f in done:
            f.completed = True
        return {"ok": True, "files": files_out}

    def _files_info(self, args: JsonDict, ctx: _Ctx) -> JsonDict:
        fid = _require(args, "file", "file_not_found")
        f = self._files.get(fid)
        if f is None:
            raise SlackError("file_not_found")
        return {
            "ok": True,
            "file": self._file_obj(f, ctx.base_url),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }


# ---------------------------------------------------------------------- request helpers


def _bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


async def _read_args(request: Request) -> JsonDict:
    """Merge query string and body (JSON, urlencoded form or multipart text fields)."""
    args: JsonDict = dict(request.query_params)
    raw = await request.body()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if raw:
        if ctype == "application/json":
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                args.update(parsed)
        elif ctype in ("application/x-www-form-urlencoded", "", "text/plain"):
            args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        elif ctype == "multipart/form-data":
            from tests.fakes.graph import parse_multipart

            for part in parse_multipart(raw, request.headers.get("content-type", "")):
                if part.filename is None:
                    args[part.name] = part.data.decode("utf-8", "replace")
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def _fault_response(fault: _Fault) -> tuple[int, JsonDict, dict[str, str]]:
    if fault.kind == "ratelimit":
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
    if fault.kind == "server_error":
        return 500, {"ok": False, "error": "internal_error"}, {}
    return 200, {"ok": False, "error": fault.error, **fault.extra}, {}
