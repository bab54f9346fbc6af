"""The fakes' server runner ships with the sandbox (:mod:`traza.sandbox.fakes.server`)."""

from traza.sandbox.fakes.server import FakeServer, ServerThread, wait_for

__all__ = ["FakeServer", "ServerThread", "wait_for"]
