"""What a strategy reads (a sample and its candidates) and what it writes (new candidates, verdicts, the item state)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson


def short_id(*parts: object) -> str:
    """Return a stable 16-hex id derived from `parts`."""
    return hashlib.sha256(orjson.dumps(parts, default=str)).hexdigest()[:16]


@dataclass(frozen=True)
class CandidateView:
    """An answer a sample already has (imported, or from an earlier job)."""

    id: str
    model: str | None
    label: str | None
    message: dict[str, Any]
    origin: str

    @property
    def text(self) -> str:
        """The answer's text content."""
        content = self.message.get("content")
        return content if isinstance(content, str) else ""

    @property
    def name(self) -> str:
        """A short name for the answer: its model, else its label, else its id."""
        return self.model or self.label or self.id


@dataclass(frozen=True)
class SampleView:
    """A sample as strategies see it: its conversation, reference answer and candidates."""

    id: str
    source: str
    messages: list[dict[str, Any]]
    reference: str | None
    candidates: list[CandidateView] = field(default_factory=list)


@dataclass
class NewCandidate:
    """An answer produced by a job, as written to the candidates table."""

    id: str
    sample_id: str
    job_id: str
    model: str | None
    label: str | None
    position: int
    message: dict[str, Any]
    finish_reason: str | None
    call_key: str | None
    origin: str
    extra: dict[str, Any] | None = None

    def view(self) -> CandidateView:
        """Return the candidate as strategies read it."""
        return CandidateView(self.id, self.model, self.label, self.message, self.origin)


@dataclass
class NewVerdict:
    """A judgement by a model or a rule, as written to the verdicts table."""

    id: str
    sample_id: str
    job_id: str
    kind: str
    judge: str
    candidate_ids: list[str]
    candidates_shown: list[str]
    outcome: dict[str, Any] | None
    rationale: str | None
    raw_output: str | None
    parse_status: str
    details: dict[str, Any] | None
    call_keys: list[str]


@dataclass
class ItemOutcome:
    """Everything one job item produced, committed together with its state."""

    sample_id: str
    state: str
    position: int = -1
    reason: str | None = None
    error: str | None = None
    assignment: dict[str, Any] | None = None
    candidates: list[NewCandidate] = field(default_factory=list)
    verdicts: list[NewVerdict] = field(default_factory=list)


class ItemFailed(Exception):
    """Ends an item as failed with a reason that is counted (e.g. "timeout", "parse_failure")."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
