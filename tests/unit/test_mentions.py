"""How a mention of the app in a thread maps to a ``/traza`` command."""

from __future__ import annotations

import pytest

import commands  # noqa: F401  (registers the verbs)
from commands.mentions import mention_command


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("<@U0BOT00001> close resuelto", 1042, "close 1042 resuelto"),
        ("<@U0BOT00001>: claim", 1042, "claim 1042"),
        ("<@U0BOT00001> transfer ventas quiere comprar", 7, "transfer 7 ventas quiere comprar"),
        ("<@U0BOT00001> close #99 duplicado", 1042, "close #99 duplicado"),
        ("<@U0BOT00001> history +5491100000001", 1042, "history +5491100000001"),
        ("<@U0BOT00001> search factura", 1042, "search factura"),
        ("<@U0BOT00001> close", None, "close"),
        ("<@U0BOT00001|traza>", 1042, "help"),
        ("<@U0BOT00001> CLOSE listo", 5, "close 5 listo"),
        ("<@U0BOT00001> bailar", 5, "bailar"),
    ],
)
def test_mention_command(text: str, ref: int | None, expected: str) -> None:
    assert mention_command(text, ref) == expected
