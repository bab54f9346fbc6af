"""Reading an HTTP request body with a bound: never more than ``limit`` bytes are held in memory.

A declared ``Content-Length`` over the limit is refused before a byte is read; a streamed body
(chunked, or lying about its length) is read chunk by chunk and dropped as soon as it passes the
limit, so an endless body costs at most the limit plus one chunk.
"""

from __future__ import annotations

from starlette.requests import Request


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` when it is (or says it is) larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "").strip()
    # A huge digit string is refused by length: int() of one over 4300 digits raises.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
