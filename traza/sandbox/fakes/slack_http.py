"""The HTTP side of the fake Slack: the ``/api/{method}`` dispatcher, uploads, downloads,
``response_url`` posts, and the files methods that hand out upload URLs."""

from __future__ import annotations

import contextlib
import copy
import json
import time
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from traza.sandbox.fakes.slack_methods import SlackMethods
from traza.sandbox.fakes.slack_store import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    JSON_ARGS,
    NO_TOKEN_METHODS,
    TEAM_ID,
    Call,
    CallContext,
    JsonDict,
    SlackError,
    SlackFault,
    SlackFile,
    require,
    str_arg,
)


class SlackHttp(SlackMethods):
    """Endpoints and file methods; ``FakeSlack`` wires them into a Starlette app."""

    def _files_get_upload_url(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        filename = require(args, "filename", "invalid_arguments")
        try:
            length = int(args.get("length") or 0)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        if length <= 0:
            raise SlackError("invalid_arguments")
        f = self._new_file(filename, length)
        f.alt_txt = str_arg(args, "alt_txt")
        return {"ok": True, "upload_url": f"{ctx.base_url}/upload/{f.id}", "file_id": f.id}

    def _files_complete_upload(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments")
        done: list[SlackFile] = []
        for item in items:
            fid = str(item.get("id", "")) if isinstance(item, dict) else ""
            f = self._files.get(fid)
            if f is None or f.data is None:
                raise SlackError("file_not_found")
            if isinstance(item, dict) and item.get("title"):
                f.title = str(item["title"])
            done.append(f)
        channel = str_arg(args, "channel_id")
        channels = args.get("channels")
        if channel is None and isinstance(channels, str) and channels:
            channel = channels.split(",")[0]
        elif channel is None and isinstance(channels, list) and channels:
            channel = str(channels[0])
        thread_ts = str_arg(args, "thread_ts")
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

    def _files_info(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        fid = require(args, "file", "file_not_found")
        f = self._files.get(fid)
        if f is None:
            raise SlackError("file_not_found")
        return {
            "ok": True,
            "file": self._file_obj(f, ctx.base_url),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    # ------------------------------------------------------------------ HTTP endpoints

    async def _endpoint(self, request: Request) -> Response:
        method = str(request.path_params["method"])
        args = await read_args(request)
        headers = {k.lower(): v for k, v in request.headers.items()}
        now = time.time()
        await self._apply_delay(method)
        token = bearer(headers) or str_arg(args, "token")
        ctx = CallContext(base_url=str(request.base_url).rstrip("/"), token=token)
        status = 200
        extra_headers: dict[str, str] = {}
        with self._lock:
            fault = self._take_fault(method)
            if fault is not None:
                status, body, extra_headers = fault_response(fault)
            else:
                body = self._dispatch(method, args, ctx)
            self._calls.append(Call(method, args, headers, now, status, copy.deepcopy(body)))
        return JSONResponse(body, status_code=status, headers=extra_headers)

    def _dispatch(self, method: str, args: JsonDict, ctx: CallContext) -> JsonDict:
        handler = self._handlers.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        if method not in NO_TOKEN_METHODS:
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
                status, body, extra = fault_response(fault)
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
        token = bearer({k.lower(): v for k, v in request.headers.items()})
        with self._lock:
            f = self._files.get(file_id)
            if not token or (self.token is not None and token != self.token):
                # Real Slack answers an HTML login page with 200; a 401 is friendlier to debug.
                return PlainTextResponse("not_authed", status_code=401)
            if f is None or f.data is None:
                return PlainTextResponse("file_not_found", status_code=404)
            return Response(f.data, media_type=f.mimetype or "application/octet-stream")


# ---------------------------------------------------------------------- request helpers


def bearer(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    return None


async def read_args(request: Request) -> JsonDict:
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
            from traza.sandbox.fakes.graph import parse_multipart

            for part in parse_multipart(raw, request.headers.get("content-type", "")):
                if part.filename is None:
                    args[part.name] = part.data.decode("utf-8", "replace")
    for key in JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def fault_response(fault: SlackFault) -> tuple[int, JsonDict, dict[str, str]]:
    if fault.kind == "ratelimit":
        return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(fault.retry_after)}
    if fault.kind == "server_error":
        return 500, {"ok": False, "error": "internal_error"}, {}
    return 200, {"ok": False, "error": fault.error, **fault.extra}, {}
