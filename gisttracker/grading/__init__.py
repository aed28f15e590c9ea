"""Laboratory grading and units: pure functions, no I/O, no clock.

- :mod:`gisttracker.grading.ctcae` — CTCAE v5.0 grades of seven laboratory adverse events;
- :mod:`gisttracker.grading.units` — exact unit conversions and wrong-unit plausibility
  checks for the same seven analytes.
"""
