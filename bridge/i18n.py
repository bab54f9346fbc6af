"""The language of what Traza writes to people: Slack texts (cards, notices, command answers) and the
automatic messages customers get. ``traza.yml`` chooses it (``language: es``; English by default).

Texts are written in English in the code, wrapped in ``t()``: the English text is the message id
(gettext's convention, so the code reads naturally and English needs no catalogue), placeholders are
``str.format`` names. ``bridge/locales/<lang>.py`` maps each id to its translation; a consistency
test checks that every ``t()`` id in the code is translated into every language with the same
placeholders. The active language is process-wide, set once at start-up from the configuration
(one deployment speaks one language), like Django's ``translation.activate``. Logs stay English.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bridge.locales import es, pt

LANGUAGES = ("en", "es", "pt")
CATALOGUES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"en": MappingProxyType({}), "es": MappingProxyType(es.MESSAGES), "pt": MappingProxyType(pt.MESSAGES)}
)
_active = {"language": "en"}


def activate(language: str) -> None:
    """Make ``language`` the one Traza writes in (called at start-up from ``traza.yml``)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    _active["language"] = language


def active() -> str:
    return _active["language"]


def t(message: str, /, **values: object) -> str:
    """``message`` in the active language, with ``values`` filled in."""
    text = CATALOGUES[_active["language"]].get(message, message)
    return text.format(**values) if values else text


def N_(message: str) -> str:
    """Mark a text for translation where it is defined (a table built at import time) and leave it
    English; ``t()`` translates it where it is shown. Like gettext's ``gettext_noop``."""
    return message
