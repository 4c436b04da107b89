"""Shared test configuration.

Every random generator in the suite is seeded; hypothesis included: its default profile here
is derandomised (the same examples on every run and machine), has no deadline (a busy
machine must not fail a test) and keeps no example database in the working tree. A test's
own ``@settings`` still override these.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("unishare", derandomize=True, deadline=None, database=None)
settings.load_profile("unishare")
