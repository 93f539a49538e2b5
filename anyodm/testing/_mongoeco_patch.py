"""Placeholder: the insert-cost patch for mongoeco's MemoryEngine (see below)."""

from __future__ import annotations


def apply() -> str | None:
    """Apply the patch; return None on success or a note saying why it was skipped."""
    return "not implemented"
