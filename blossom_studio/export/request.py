"""What an export asks for: which samples, which layout and file type, and the checks that refuse a bad request."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SFT_FORMATS = ("blossom", "openai", "sharegpt", "alpaca")
FORMATS = (*SFT_FORMATS, "preference")
FILE_TYPES = ("jsonl", "csv", "parquet")
INCLUDABLE = ("rejected", "unparsed", "flagged")
"""Samples left out by default that a request may ask for: the effective verdict drops them, the judge's output could
not be parsed, or a rule flagged the conversation or its answer."""
LICENSE = re.compile(r"[a-z0-9][a-z0-9.\-+]*")
LANGS = ("zh", "en", "mixed", "other", "code", "unknown")
BIGGEST = 2**63 - 1


class ExportError(ValueError):
    """An export request that cannot be carried out; nothing was written, and the message says why."""


@dataclass(frozen=True)
class ExportRequest:
    """Which samples go out (filters, a saved selection, balance, size, dedupe, split) and how they are written."""

    format: str = "blossom"
    file_type: str = "jsonl"
    sources: tuple[str, ...] = ()
    lang: str | None = None
    selection: str | None = None
    include: tuple[str, ...] = ()
    judged_only: bool = False
    balance: dict[str, float] | None = None
    limit: int | None = None
    dedupe: bool = True
    test_size: float = 0.0
    seed: int = 0
    bom: bool = False
    license: str = "other"
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        """Raise ExportError when a field is out of range (an unknown format, a negative limit...)."""
        if self.format not in FORMATS:
            raise ExportError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.file_type not in FILE_TYPES:
            raise ExportError(f"unknown file type {self.file_type!r}; use one of {', '.join(FILE_TYPES)}")
        unknown = [value for value in self.include if value not in INCLUDABLE]
        if unknown:
            raise ExportError(f"cannot include {', '.join(map(repr, unknown))}; what can be included: "
                              f"{', '.join(INCLUDABLE)}")
        if self.limit is not None and (isinstance(self.limit, bool) or not 1 <= self.limit <= BIGGEST):
            raise ExportError(f"the limit must be a whole number of at least 1, got {self.limit!r}")
        if isinstance(self.seed, bool) or not 0 <= self.seed <= BIGGEST:
            raise ExportError(f"the seed must be a whole number from 0 to {BIGGEST}, got {self.seed!r}")
        if self.lang is not None and self.lang not in LANGS:
            raise ExportError(f"unknown language {self.lang!r}; use one of {', '.join(LANGS)}")
        if not 0 <= self.test_size < 1 and not (self.test_size >= 1 and float(self.test_size).is_integer()):
            raise ExportError(f"the test size must be a fraction in [0, 1) or a whole number of samples, got "
                              f"{self.test_size!r}")
        if self.balance is not None and (not self.balance or any(w <= 0 for w in self.balance.values())):
            raise ExportError("a balance needs languages with weights above 0, e.g. zh:en=1:1")
        if self.bom and self.file_type != "csv":
            raise ExportError("a byte order mark (--bom) only applies to CSV files")
        if not LICENSE.fullmatch(self.license):
            raise ExportError(f"the license {self.license!r} is not a Hugging Face license id (e.g. apache-2.0, "
                              "cc-by-4.0, mit, other)")

    def describe(self) -> dict[str, Any]:
        """Return the request as JSON-ready data (what the manifest and the exports table record)."""
        data = asdict(self)
        data["sources"] = list(self.sources)
        data["include"] = list(self.include)
        return {key: value for key, value in data.items() if value not in (None, {}, [])}


def data_file_name(split: str, file_type: str) -> str:
    """Return the name of a split's data file inside the export folder, e.g. data/train.jsonl."""
    return f"data/{split}.{file_type}"


def resolve_target(target: str | Path, root: Path | None) -> Path:
    """Return the export folder for `target`; with `root` (shared mode) it must lie inside root, given as a name."""
    text = str(target).strip()
    if not text:
        raise ExportError("name the export folder (for example curated-zh-en)")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ExportError(f"the folder name {text!r} holds a control character; use a plain name")
    if root is None:
        return Path(text).expanduser().resolve()
    root = root.resolve()
    candidate = (root / text).resolve()
    if candidate == root or root not in candidate.parents:
        raise ExportError(f"{text!r} is outside the export folder; here an export is a folder name inside "
                          f"{root.name}/ (a relative name such as curated-zh-en, or team/curated for a subfolder)")
    return candidate
