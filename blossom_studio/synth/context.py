"""The services a strategy uses for one item: cached model calls, judging with one repair, and result recording."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blossom_studio.llm.cache import CallCache, CallRecord, call_key
from blossom_studio.llm.client import CallResult, ModelClient
from blossom_studio.llm.roster import ModelSpec
from blossom_studio.synth.items import (
    CandidateView,
    ItemFailed,
    ItemOutcome,
    NewCandidate,
    NewVerdict,
    SampleView,
    short_id,
)
from blossom_studio.synth.judge_parse import ParseOutcome, parse_judge_output
from blossom_studio.synth.templates import build_judge_prompt, content_text, repair_messages

HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")


def text_language(text: str) -> str:
    """Return "zh" when Han characters are at least a fifth of the Han and Latin letters, else "en"."""
    han = len(HAN.findall(text))
    latin = len(LATIN.findall(text))
    return "zh" if han and han * 5 >= han + latin else "en"


def message_text(message: Mapping[str, Any]) -> str:
    """Return a message's text, joining content parts."""
    return content_text(message.get("content"))


class CallService:
    """Answers a request from the call cache or the endpoint, and hands every finished call to `sink`."""

    def __init__(self, cache: CallCache, sink: Callable[[CallRecord], None], job_id: str | None) -> None:
        self.cache = cache
        self.sink = sink
        self.job_id = job_id
        self._clients: dict[str, ModelClient] = {}
        self._in_flight: dict[str, asyncio.Future[CallResult]] = {}

    def client(self, spec: ModelSpec) -> ModelClient:
        """Return the client of `spec`, created on first use inside the running event loop."""
        if spec.name not in self._clients:
            self._clients[spec.name] = ModelClient(spec)
        return self._clients[spec.name]

    async def call(
        self, spec: ModelSpec, messages: list[dict[str, Any]], extra_params: Mapping[str, Any] | None = None
    ) -> tuple[str, CallResult]:
        """Return the key and result of a chat call, from the cache when it was answered before."""
        params = {**spec.params, **(extra_params or {})}
        key = call_key(spec, params, messages)
        cached = self.cache.get(key)
        if cached is not None:
            return key, cached
        if key in self._in_flight:
            return key, await asyncio.shield(self._in_flight[key])
        future: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self.client(spec).complete(messages, params)
            if result.ok:
                self.cache.remember(key, result)
            self.sink(CallRecord(key, spec, params, messages, result, self.job_id))
            future.set_result(result)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marks it retrieved when nobody else waits
            raise
        finally:
            del self._in_flight[key]
        return key, result

    async def close(self) -> None:
        """Close every client's connections."""
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


@dataclass
class Judgement:
    """A judge's parsed output, its raw text, its calls, and whether it parsed at once, after repair, or not."""

    parsed: ParseOutcome
    raw: str
    call_keys: list[str]
    parse_status: str


class ItemContext:
    """One item of a job: the sample, the models by role, a seeded random source, and what the item produced."""

    def __init__(
        self,
        sample: SampleView,
        job_id: str,
        roles: Mapping[str, ModelSpec],
        calls: CallService,
        seed: int,
        templates_dir: Path | None = None,
    ) -> None:
        self.sample = sample
        self.job_id = job_id
        self.roles = roles
        self.calls = calls
        self.rng = random.Random(f"{seed}:{sample.id}")
        self.templates_dir = templates_dir
        self.outcome = ItemOutcome(sample_id=sample.id, state="done")
        self.lang = text_language("\n".join(message_text(m) for m in sample.messages if m.get("role") == "user"))

    def role(self, name: str) -> ModelSpec:
        """Return the model playing role `name`."""
        return self.roles[name]

    async def ask(
        self,
        spec: ModelSpec,
        messages: list[dict[str, Any]],
        purpose: str,
        extra_params: Mapping[str, Any] | None = None,
    ) -> tuple[str, CallResult]:
        """Call `spec`; a failed call ends the item with the failure's kind as its reason."""
        key, result = await self.calls.call(spec, messages, extra_params)
        if not result.ok:
            raise ItemFailed(result.error_kind or "call_failed", f"{purpose} by {spec.name}: {result.error}")
        return key, result

    async def judge(
        self,
        spec: ModelSpec,
        kind: str,
        *,
        instruction: str,
        answers: list[str] | tuple[str, ...] = (),
        reference: str | None = None,
        aspect: str | None = None,
    ) -> Judgement:
        """Ask `spec` to judge; parse its output, and on a parse failure ask once more with the error shown."""
        messages = build_judge_prompt(
            kind,
            self.lang,
            instruction=instruction,
            answers=answers,
            reference=reference,
            aspect=aspect,
            override_dir=self.templates_dir,
        )
        key, result = await self.ask(spec, messages, f"{kind} judging")
        raw = result.text or ""
        parsed = parse_judge_output(kind, raw, n_answers=max(1, len(answers)), aspect=aspect)
        if parsed.ok:
            return Judgement(parsed, raw, [key], "ok")
        retry = repair_messages(kind, self.lang, messages, raw, parsed.error or "the output did not follow the format")
        repair_key, repaired = await self.ask(spec, retry, f"{kind} judging (repair)")
        repaired_raw = repaired.text or ""
        reparsed = parse_judge_output(kind, repaired_raw, n_answers=max(1, len(answers)), aspect=aspect)
        if reparsed.ok:
            return Judgement(reparsed, repaired_raw, [key, repair_key], "repaired")
        return Judgement(reparsed, raw + "\n\n--- repair attempt ---\n\n" + repaired_raw, [key, repair_key], "failed")

    def add_candidate(
        self,
        *,
        model: str | None,
        label: str | None,
        message: dict[str, Any],
        origin: str,
        finish_reason: str | None = None,
        call_key: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> NewCandidate:
        """Record a new answer of this item and return it."""
        position = len(self.sample.candidates) + len(self.outcome.candidates)
        candidate = NewCandidate(
            id=short_id(self.job_id, self.sample.id, origin, label, model, call_key, position),
            sample_id=self.sample.id,
            job_id=self.job_id,
            model=model,
            label=label,
            position=position,
            message=message,
            finish_reason=finish_reason,
            call_key=call_key,
            origin=origin,
            extra=extra,
        )
        self.outcome.candidates.append(candidate)
        return candidate

    def add_verdict(
        self,
        *,
        kind: str,
        judge: str,
        candidates: list[CandidateView],
        outcome: dict[str, Any] | None,
        parse_status: str,
        rationale: str | None = None,
        raw_output: str | None = None,
        details: dict[str, Any] | None = None,
        call_keys: list[str] | None = None,
    ) -> NewVerdict:
        """Record a verdict of this item and return it."""
        verdict = NewVerdict(
            id=short_id(
                self.job_id,
                self.sample.id,
                kind,
                judge,
                [c.id for c in candidates],
                call_keys,
                len(self.outcome.verdicts),
            ),
            sample_id=self.sample.id,
            job_id=self.job_id,
            kind=kind,
            judge=judge,
            candidate_ids=[c.id for c in candidates],
            candidates_shown=[c.name for c in candidates],
            outcome=outcome,
            rationale=rationale,
            raw_output=raw_output,
            parse_status=parse_status,
            details=details,
            call_keys=call_keys or [],
        )
        self.outcome.verdicts.append(verdict)
        return verdict

    def record_judgement(
        self,
        judgement: Judgement,
        *,
        kind: str,
        judge: ModelSpec,
        candidates: list[CandidateView],
        outcome: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> NewVerdict:
        """Record a model's judgement as a verdict; a parse failure is recorded and then ends the item as failed."""
        parsed = judgement.parsed
        value = outcome if outcome is not None else (parsed.value if isinstance(parsed.value, dict) else None)
        verdict = self.add_verdict(
            kind=kind,
            judge=judge.name,
            candidates=candidates,
            outcome=value if parsed.ok else None,
            parse_status=judgement.parse_status,
            rationale=parsed.rationale,
            raw_output=judgement.raw,
            details={**(details or {}), **({"parse_error": parsed.error} if not parsed.ok else {})} or None,
            call_keys=judgement.call_keys,
        )
        if not parsed.ok:
            raise ItemFailed("parse_failure", f"{kind} judge {judge.name}: {parsed.error}")
        return verdict
