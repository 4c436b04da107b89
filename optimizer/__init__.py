"""UniShare optimizer: partner matching, shared-instrument scheduling and inter-library loans.

Each problem kind exposes one function, ``solve(instance, options) -> Solution``; the CLI,
the HTTP API and the tests all call it.
"""

__version__ = "0.1.0"
