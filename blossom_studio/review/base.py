"""The review vocabulary every review module shares: judge kinds, actions, letters, filters and ReviewError."""

from __future__ import annotations

import duckdb

JUDGE_KINDS = ("pairwise", "rating", "verify", "consistency", "instruction")
DECIDING = ("accept", "choose", "tie", "both_bad", "reject")
ACTIONS = (*DECIDING, "edit", "note", "undo")
LETTERS = ("A", "B", "C", "D")
FILTERS = ("pending", "all", "ties", "split", "parse_failures", "low_margin", "disagreement", "conflicts", "audit")
LOW_MARGIN = 1.0
"""A rating pair whose chosen and rejected means differ by at most this much (the default minimum) is low-margin."""

Cursor = duckdb.DuckDBPyConnection


class ReviewError(ValueError):
    """A review request that cannot be carried out; the message says why and what to do instead."""
