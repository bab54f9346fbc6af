"""The fake Graph API now ships with the sandbox (:mod:`traza.sandbox.fakes.graph`); tests import it here."""

from traza.sandbox.fakes.graph import FakeGraph, GraphCall, MediaItem, MultipartPart, SentMessage
from traza.sandbox.fakes.graph_store import parse_multipart

__all__ = ["FakeGraph", "GraphCall", "MediaItem", "MultipartPart", "SentMessage", "parse_multipart"]
