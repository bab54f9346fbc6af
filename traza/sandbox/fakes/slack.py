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

import copy
import secrets
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route

from traza.sandbox.fakes.server import FakeServer
from traza.sandbox.fakes.slack_http import SlackHttp
from traza.sandbox.fakes.slack_store import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    TEAM_ID,
    Call,
    CallContext,
    JsonDict,
    SlackFault,
    ts_key,
)

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "FakeSlack",
]


class FakeSlack(SlackHttp, FakeServer):
    """In-memory Slack workspace "Acme" with one bot user (``U0BOT00001`` / ``B0BOT00001``).

    Parameters:
        token: if set, every Web API call must carry exactly this bearer token
            (otherwise ``invalid_auth``); if None any non-empty token is accepted.
        file_share_delay: seconds after ``files.completeUploadExternal`` before ``files.info``
            reports the share (real Slack shares asynchronously; 0 = immediately).
    """

    def __init__(self, token: str | None = None, *, file_share_delay: float = 0.0) -> None:
        super().__init__(token, file_share_delay=file_share_delay)
        self._handlers: dict[str, Callable[[JsonDict, CallContext], JsonDict]] = {
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
            "users.info": self._users_info,
            "users.getPresence": self._users_get_presence,
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
            return copy.deepcopy(sorted(out, key=lambda m: ts_key(m["ts"])))

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
                ch: copy.deepcopy(sorted(msgs.values(), key=lambda m: ts_key(m["ts"])))
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
        is_bot, deleted); ``presence="away"`` is what ``users.getPresence`` answers (default active)."""
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
        self._add_fault(method, SlackFault("error", times, error=error, extra=dict(extra)))

    def rate_limit_next(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls with HTTP 429, ``Retry-After``, ``ratelimited``."""
        self._add_fault(method, SlackFault("ratelimit", times, retry_after=retry_after))

    def server_error_next(self, method: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` (or ``"upload"``) with HTTP 500."""
        self._add_fault(method, SlackFault("server_error", times))

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
