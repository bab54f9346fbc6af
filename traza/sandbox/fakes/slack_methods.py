"""The Web API methods of the fake Slack: chat, reactions, conversations, users and views.

Each handler takes the parsed arguments and answers the JSON body Slack would (lock held).
"""

from __future__ import annotations

import copy
import secrets
import time

from traza.sandbox.fakes.slack_store import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    WORKSPACE_URL,
    CallContext,
    JsonDict,
    SlackError,
    SlackStore,
    require,
    str_arg,
    truthy,
    ts_key,
)


class SlackMethods(SlackStore):
    """Web API handlers over :class:`SlackStore`'s state."""

    # ------------------------------------------------------------------ Web API methods

    def _api_test(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        return {"ok": True, "args": {k: v for k, v in args.items() if k != "token"}}

    def _auth_test(self, args: JsonDict, ctx: CallContext) -> JsonDict:
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

    def _chat_post_message(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
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
        username = str_arg(args, "username")
        icon_url = str_arg(args, "icon_url")
        icon_emoji = str_arg(args, "icon_emoji")
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
        thread_ts = str_arg(args, "thread_ts")
        ts = self._store(channel, msg, thread_ts=thread_ts, broadcast=truthy(args.get("reply_broadcast")))
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": copy.deepcopy(msg),
            "response_metadata": {"warnings": []},
        }

    def _chat_update(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
        ts = require(args, "ts", "message_not_found")
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

    def _chat_delete(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
        ts = require(args, "ts", "message_not_found")
        self._find(channel, ts)
        del self._messages[channel][ts]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        require(args, "channel", "channel_not_found")
        require(args, "user", "user_not_found")
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            raise SlackError("no_text")
        ts = self._next_ts()
        self._ephemerals.append({**copy.deepcopy(args), "message_ts": ts})
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
        ts = require(args, "message_ts", "message_not_found")
        msg = self._find(channel, ts)
        link = f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}"
        root = msg.get("thread_ts")
        if root and root != ts:
            link += f"?thread_ts={root}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _reaction_target(self, args: JsonDict) -> tuple[JsonDict, str]:
        channel = require(args, "channel", "channel_not_found")
        ts = require(args, "timestamp", "no_item_specified")
        name = require(args, "name", "invalid_name").strip(":")
        return self._find(channel, ts), name

    def _reactions_add(self, args: JsonDict, ctx: CallContext) -> JsonDict:
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

    def _reactions_remove(self, args: JsonDict, ctx: CallContext) -> JsonDict:
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

    def _conversations_replies(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
        ts = require(args, "ts", "thread_not_found")
        msg = self._messages.get(channel, {}).get(ts)
        if msg is None:
            raise SlackError("thread_not_found")
        meta = truthy(args.get("include_all_metadata"))
        # For the ts of a reply Slack answers just that message.
        is_reply = msg.get("thread_ts", ts) != ts
        items = [msg] if is_reply else [msg, *self._replies(channel, ts)]
        items = [self._message_out(m, meta) for m in items]
        oldest, latest = str_arg(args, "oldest"), str_arg(args, "latest")
        if oldest:
            items = [m for m in items if ts_key(m["ts"]) >= ts_key(oldest)]
        if latest:
            items = [m for m in items if ts_key(m["ts"]) <= ts_key(latest)]
        return {"ok": True, **self._page(items, args, 1000)}

    def _conversations_history(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
        meta = truthy(args.get("include_all_metadata"))
        msgs = self._messages.get(channel, {})
        items = [
            m
            for m in msgs.values()
            if m.get("thread_ts", m["ts"]) == m["ts"] or (channel, m["ts"]) in self._broadcast
        ]
        oldest, latest = str_arg(args, "oldest"), str_arg(args, "latest")
        if oldest:
            items = [m for m in items if ts_key(m["ts"]) > ts_key(oldest)]
        if latest:
            items = [m for m in items if ts_key(m["ts"]) < ts_key(latest)]
        items.sort(key=lambda m: ts_key(m["ts"]), reverse=True)
        out = [self._message_out(m, meta) for m in items]
        return {"ok": True, **self._page(out, args, 100)}

    def _conversations_info(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        channel = require(args, "channel", "channel_not_found")
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

    def _users_info(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        user_id = require(args, "user", "user_not_found")
        if not user_id.startswith(("U", "W")):
            raise SlackError("user_not_found")
        custom = dict(self._users.get(user_id, {}))
        custom.pop("presence", None)  # users.getPresence answers it, not users.info
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

    def _users_get_presence(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        user_id = require(args, "user", "user_not_found")
        if not user_id.startswith(("U", "W")):
            raise SlackError("user_not_found")
        presence = str(self._users.get(user_id, {}).get("presence", "active"))
        return {"ok": True, "presence": presence}

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

    def _views_open(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        require(args, "trigger_id", "invalid_trigger_id")
        return self._record_view("views.open", args)

    def _views_update(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        view_id = str_arg(args, "view_id")
        external_id = str_arg(args, "external_id")
        if not view_id and not external_id:
            raise SlackError("not_found")
        return self._record_view("views.update", args, view_id)

    def _views_publish(self, args: JsonDict, ctx: CallContext) -> JsonDict:
        require(args, "user_id", "user_not_found")
        return self._record_view("views.publish", args)
