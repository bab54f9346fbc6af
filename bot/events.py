"""Slack ``message`` events, classified once at the edge into typed objects the bridge understands.

Only human replies inside a thread count. Dropped here: the bot's own posts (top-level ``bot_id``,
``bot_message`` subtype, and ``message_changed`` echoes whose inner or previous message carries a
``bot_id`` — unfurls of our own posts arrive that way), channel joins and other system subtypes,
top-level channel messages, and ``@mention`` commands (they also arrive as ``app_mention`` and run
through ``commands.mentions``).
"""

from __future__ import annotations

from typing import Any

from bridge.outbound import ReplyDeleted, ReplyEdited, SharedFile, ThreadEvent, ThreadReply

REPLY_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def _from_bot(message: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or (bot_user_id and message.get("user") == bot_user_id)
        or (bot_id and message.get("bot_id") == bot_id)
    )


def _in_thread(message: dict[str, Any]) -> str | None:
    thread_ts, ts = message.get("thread_ts"), message.get("ts")
    return str(thread_ts) if isinstance(thread_ts, str) and thread_ts and thread_ts != ts else None


def _files(raw: object) -> tuple[SharedFile, ...]:
    if not isinstance(raw, list):
        return ()
    files = []
    for f in raw:
        if not isinstance(f, dict) or not isinstance(f.get("id"), str):
            continue
        url = f.get("url_private_download") or f.get("url_private") or ""
        size = f.get("size")
        size = size if isinstance(size, int) else 0
        files.append(
            SharedFile(
                f["id"], str(f.get("name") or f["id"]), str(f.get("mimetype") or ""), int(size), str(url)
            )
        )
    return tuple(files)


def classify(event: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> ThreadEvent | None:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        return _edited(event, bot_user_id, bot_id)
    if subtype == "message_deleted":
        return _deleted(event, bot_user_id, bot_id)
    if subtype not in REPLY_SUBTYPES or _from_bot(event, bot_user_id, bot_id):
        return None
    thread_ts = _in_thread(event)
    user, text = event.get("user"), event.get("text") or ""
    if thread_ts is None or not isinstance(user, str) or not isinstance(event.get("channel"), str):
        return None
    if bot_user_id and str(text).lstrip().startswith(f"<@{bot_user_id}"):
        return None  # an @mention command, handled through app_mention
    return ThreadReply(
        event["channel"], thread_ts, str(event.get("ts")), user, str(text), _files(event.get("files"))
    )


def _edited(event: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> ReplyEdited | None:
    new, old = event.get("message"), event.get("previous_message")
    if not isinstance(new, dict) or not isinstance(old, dict) or _from_bot(event, bot_user_id, bot_id):
        return None
    if _from_bot(new, bot_user_id, bot_id) or _from_bot(old, bot_user_id, bot_id):
        return None
    thread_ts = _in_thread(new)
    if thread_ts is None or new.get("text") == old.get("text") or not isinstance(new.get("user"), str):
        return None  # unfurls and attachment changes keep the text
    return ReplyEdited(
        str(event.get("channel")),
        thread_ts,
        str(new.get("ts")),
        new["user"],
        str(old.get("text") or ""),
        str(new.get("text") or ""),
    )


def _deleted(event: dict[str, Any], bot_user_id: str | None, bot_id: str | None) -> ReplyDeleted | None:
    old = event.get("previous_message")
    if not isinstance(old, dict) or _from_bot(old, bot_user_id, bot_id):
        return None
    thread_ts = _in_thread(old)
    if thread_ts is None:
        return None
    return ReplyDeleted(
        str(event.get("channel")),
        thread_ts,
        str(event.get("deleted_ts") or old.get("ts")),
        str(old.get("user") or ""),
        str(old.get("text") or ""),
    )
