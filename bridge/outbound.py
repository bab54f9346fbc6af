"""What agents do in a conversation's thread, as typed objects the edges produce and the bridge consumes."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.i18n import t


@dataclass(frozen=True, slots=True)
class SharedFile:
    id: str
    name: str
    mimetype: str
    size: int
    url: str


@dataclass(frozen=True, slots=True)
class ThreadReply:
    channel: str
    thread_ts: str
    ts: str
    user: str
    text: str
    files: tuple[SharedFile, ...] = ()


@dataclass(frozen=True, slots=True)
class ReplyEdited:
    channel: str
    thread_ts: str
    ts: str
    user: str
    old_text: str
    new_text: str


@dataclass(frozen=True, slots=True)
class ReplyDeleted:
    channel: str
    thread_ts: str
    ts: str
    user: str
    old_text: str


ThreadEvent = ThreadReply | ReplyEdited | ReplyDeleted


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """How a shared file travels to WhatsApp, or why it cannot."""

    kind: str | None  # "image" | "audio" | "video" | "document" | "sticker"; None when refused
    problem: str = ""


_MB = 1024 * 1024
_LIMITS = {
    "image": ({"image/jpeg", "image/png"}, 5 * _MB),
    "audio": ({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 * _MB),
    "video": ({"video/mp4", "video/3gpp"}, 16 * _MB),
    "sticker": ({"image/webp"}, 500 * 1024),
}
DOCUMENT_LIMIT = 100 * _MB


def plan_media(mimetype: str, size: int) -> MediaPlan:
    """WhatsApp's type and size limits, checked before anything is downloaded or uploaded.

    Types WhatsApp has no message kind for (zip, heic, mov…) travel as documents, which accept any
    file up to 100 MB; a file over its kind's limit is refused with the limit in the reason.
    """
    base = mimetype.split(";")[0].strip().lower()
    for kind, (types, limit) in _LIMITS.items():
        if base in types:
            if size > limit:
                return MediaPlan(
                    None,
                    t(
                        "{kind} files can be at most {limit} MB on WhatsApp (this one is {size} MB)",
                        kind=kind,
                        limit=limit // _MB or 0.5,
                        size=f"{size / _MB:.1f}",
                    ),
                )
            return MediaPlan(kind)
    if size > DOCUMENT_LIMIT:
        return MediaPlan(
            None,
            t("files can be at most 100 MB on WhatsApp (this one is {size} MB)", size=f"{size / _MB:.1f}"),
        )
    return MediaPlan("document")
