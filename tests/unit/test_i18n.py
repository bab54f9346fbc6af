"""Every text Traza writes to people is translated into every language, with the same placeholders,
and the language chosen in ``traza.yml`` is the one that shows up."""

from __future__ import annotations

import ast
import re
import string
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge import i18n
from bridge.whatsapp.errors import CODES

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("bot", "bridge", "commands", "store", "traza")


def message_ids() -> set[str]:
    """The first argument of every ``t(...)`` and ``N_(...)`` call in the product's code."""
    found: set[str] = set()
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("t", "N_")
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.add(node.args[0].value)
    found.update(info.advice for info in CODES.values())
    return found


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_the_code_has_texts_to_translate() -> None:
    assert len(message_ids()) > 100


@pytest.mark.parametrize("language", ["es", "pt"])
def test_every_text_is_translated_with_the_same_placeholders(language: str) -> None:
    catalogue = i18n.CATALOGUES[language]
    missing = sorted(m for m in message_ids() if m not in catalogue)
    assert not missing, f"{len(missing)} texts lack a {language} translation, e.g. {missing[:5]}"
    wrong = sorted(m for m in message_ids() if fields(catalogue[m]) != fields(m))
    assert not wrong, f"placeholders differ in {language}: {wrong[:5]}"


@pytest.mark.parametrize("language", ["es", "pt"])
def test_no_translation_is_left_over_or_untranslated(language: str) -> None:
    catalogue = i18n.CATALOGUES[language]
    stale = sorted(set(catalogue) - message_ids())
    assert not stale, f"{language} translates texts the code no longer has: {stale[:5]}"
    words = {m: re.sub(r"\{\w+\}|[^A-Za-z ]", "", m).strip() for m in catalogue}
    same = [m for m, text in catalogue.items() if text == m and len(words[m]) > 12]
    assert not same, f"{language} copies English: {same[:5]}"


def test_the_active_language_translates_and_fills_placeholders() -> None:
    try:
        i18n.activate("es")
        assert i18n.t("Closed #{ref}.", ref=1042) == "Cerrada la #1042."
        i18n.activate("pt")
        assert i18n.t("Closed #{ref}.", ref=1042) == "Conversa #1042 encerrada."
    finally:
        i18n.activate("en")
    assert i18n.t("Closed #{ref}.", ref=1042) == "Closed #1042."
    with pytest.raises(ValueError, match="unknown language"):
        i18n.activate("fr")


def test_a_card_in_spanish() -> None:
    from bot.cards import card_message
    from tests.unit.test_cards import make_view

    try:
        i18n.activate("es")
        text = str(card_message(make_view(), datetime(2026, 11, 26, 12, 0, tzinfo=UTC)))
        assert "Reclamar" in text and "Transferir" in text and "Equipo" in text
    finally:
        i18n.activate("en")
