"""Hypothesis profiles for the fuzz suite.

``ci`` (the default) is small and derandomised, so the suite is repeatable and runs in about two
minutes on two busy cores; ``deep`` is random and much longer, for hunting bugs by hand:
``TRAZA_FUZZ_PROFILE=deep pytest tests/fuzz``. ``deadline=None`` everywhere: one example may wait
on a database, and timing belongs in ``bench/``, not in a property.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The app under test (a function-scoped fixture) is shared by all examples of one test on purpose:
# properties must hold whatever state earlier examples left behind.
_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, suppress_health_check=_QUIET
)
settings.register_profile("deep", max_examples=600, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("TRAZA_FUZZ_PROFILE", "ci"))
