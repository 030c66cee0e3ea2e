"""Errors raised while reading files and records."""

from __future__ import annotations


class ImportFileError(Exception):
    """A whole file cannot be imported; the message names the file and says why."""


class RecordError(Exception):
    """One record cannot be imported; `field` names the offending field when there is one."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field

    def describe(self) -> str:
        """Return the reason with the field named first, as shown to users."""
        return f"field '{self.field}': {self.reason}" if self.field else self.reason


def type_name(value: object) -> str:
    """Name a JSON value's type the way a JSON user would (string, number, array, object, null)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
