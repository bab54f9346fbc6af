"""Test-side names for the fake Slack and Graph servers, which ship in :mod:`traza.sandbox.fakes`."""
