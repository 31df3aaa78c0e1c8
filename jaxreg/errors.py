"""Errors the ``jaxreg`` command shows the user. The lowest floor: imports nothing from jaxreg, so
``cli`` and the ``experiment`` modules both import from here (``cli`` re-exports them)."""

from __future__ import annotations


class UsageError(ValueError):
    """Bad input from the user: reported as one line, exit code 2."""
