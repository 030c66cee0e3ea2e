"""Calls and tokens of a job before it starts: the selection's samples times the calls its strategy makes per item.

Tokens are estimated from stored text: a Chinese (Han) character is about one token, and about four other
characters make one token. Profiled samples give their sizes from the profile columns (`message_roles`,
`message_chars`, `zh_chars`, `chars`); samples not profiled yet are measured from their messages. Prompt tokens
count the conversation each call sends, plus the template of a judge or rewrite prompt; an answer a model still has
to write is counted, inside a judge's prompt, at the length of the sample's own answer when it has one, else at the
answering model's `max_tokens`. Output tokens are an upper bound: every call writing its model's `max_tokens`.

Calls are an upper bound too where a rule can decide without the judge (verify, consistency), and they do not count
a judge's one repair call after unparseable output, nor subtract calls already in the cache.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from blossom_studio.llm.roster import ModelSpec, Roster
from blossom_studio.store import Store
from blossom_studio.synth.selection import Selection, select_sample_ids
from blossom_studio.synth.strategies import Strategy, strategy_for_roles
from blossom_studio.synth.strategies.rate import FOUR_ASPECTS, RESPONDENT_ROLES
from blossom_studio.synth.templates import build_judge_prompt

DEFAULT_OUTPUT_TOKENS = 1024
"""Output tokens counted per call of a model whose params set no max_tokens."""
CHARS_PER_TOKEN = 4
HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
CANDIDATE = "candidate"
_SIZES_SQL = """
    SELECT id, profile_version IS NOT NULL, prompt_lang, message_roles, message_chars, zh_chars, chars,
           coalesce(length(reference), 0), coalesce(length(regexp_replace(reference, '[^\\p{Han}]', '', 'g')), 0)
    FROM samples WHERE id IN (SELECT unnest(?::VARCHAR[]))
"""
_TEXTS_SQL = """
    SELECT s.id, s.messages,
           (SELECT list(c.message ORDER BY c.position) FROM candidates c
            WHERE c.sample_id = s.id AND c.origin = 'import')
    FROM samples s WHERE s.id IN (SELECT unnest(?::VARCHAR[]))
"""


def text_tokens(chars: int, han: int = 0) -> int:
    """Estimate the tokens of a text of `chars` characters, `han` of them Chinese: one per Han character, 1/4 else."""
    han = max(0, min(han, chars))
    return han + math.ceil((chars - han) / CHARS_PER_TOKEN)


def tokens_of(text: str) -> int:
    """Estimate the tokens of a text."""
    return text_tokens(len(text), len(HAN.findall(text)))


@dataclass(frozen=True)
class SampleSize:
    """The token sizes of the parts of one sample a strategy sends."""

    lang: str
    has_prompt: bool
    prompt: int
    first_prompt: int
    turn_prompts: tuple[int, ...]
    answers: tuple[int, ...]
    own_answer: int | None
    output_text: int | None
    reference: int

    @classmethod
    def from_entries(cls, entries: Sequence[tuple[str, int, int]], lang: str, reference: int) -> SampleSize:
        """Build the sizes from (role, chars, han) per message, then ("candidate", chars, han) per imported answer."""
        messages = [entry for entry in entries if entry[0] != CANDIDATE]
        candidates = tuple(text_tokens(chars, han) for role, chars, han in entries if role == CANDIDATE and chars)
        sizes = [text_tokens(chars, han) for _, chars, han in messages]
        users = [index for index, entry in enumerate(messages) if entry[0] == "user"]
        slots = [index for index, entry in enumerate(messages) if entry[0] == "assistant"] or (
            [len(messages)] if users else [])
        final = sizes[-1] if messages and messages[-1][0] == "assistant" and messages[-1][1] else None
        output_text = final if final is not None else (candidates[0] if candidates else None)
        if output_text is None and len(users) == 1 and sizes[users[0]]:
            output_text = sizes[users[0]]
        return cls(
            lang=lang,
            has_prompt=bool(users),
            prompt=sum(sizes[: users[-1] + 1]) if users else 0,
            first_prompt=sum(sizes[: users[0] + 1]) if users else 0,
            turn_prompts=tuple(sum(sizes[:slot]) for slot in slots),
            answers=candidates or ((final,) if final is not None else ()),
            own_answer=final if final is not None else (candidates[0] if candidates else None),
            output_text=output_text,
            reference=reference,
        )


@dataclass
class Estimate:
    """A job's expected calls and tokens, per model, with the items that will fail before any call."""

    strategy: str
    samples: int
    calls: int
    input_tokens: int
    output_tokens: int
    calls_by_model: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    unprofiled: int = 0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the estimate as JSON-ready data."""
        return {"strategy": self.strategy, "samples": self.samples, "calls": self.calls,
                "input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "calls_by_model": dict(self.calls_by_model), "skipped": dict(self.skipped),
                "unprofiled": self.unprofiled, "notes": list(self.notes)}

    def summary(self) -> str:
        """Return the estimate in one line of plain text."""
        models = ", ".join(f"{name} {count:,}" for name, count in self.calls_by_model.items())
        line = (f"{self.samples:,} samples → about {self.calls:,} calls" + (f" ({models})" if models else "")
                + f" · ≈{self.input_tokens:,} prompt tokens · ≤{self.output_tokens:,} output tokens")
        if self.skipped:
            line += " · fail before any call: " + ", ".join(f"{reason} {n:,}" for reason, n in self.skipped.items())
        return line


class _Plan:
    """Accumulates expected calls and tokens by model."""

    def __init__(self, specs: Mapping[str, ModelSpec]) -> None:
        self.specs = specs
        self.calls: Counter[str] = Counter()
        self.input = 0.0
        self.output = 0.0
        self.skipped: Counter[str] = Counter()

    def budget(self, role: str) -> int:
        return output_budget(self.specs[role])

    def add(self, role: str, prompt: float, weight: float = 1.0) -> None:
        self.calls[self.specs[role].name] += weight
        self.input += weight * prompt
        self.output += weight * self.budget(role)


def max_tokens(spec: ModelSpec) -> int | None:
    """Return the output limit a model's params set (max_tokens or max_completion_tokens), if any."""
    for key in ("max_tokens", "max_completion_tokens"):
        value = spec.params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def output_budget(spec: ModelSpec) -> int:
    """Return the output tokens a call of `spec` may write: its max_tokens, else DEFAULT_OUTPUT_TOKENS."""
    return max_tokens(spec) or DEFAULT_OUTPUT_TOKENS


@functools.lru_cache(maxsize=256)
def template_tokens(kind: str, lang: str, answers: int = 1, aspect: str | None = None) -> int:
    """Return the tokens a judge or rewrite prompt adds around the texts it carries."""
    placeholders = ("x",) * answers
    messages = build_judge_prompt(kind, lang, instruction="x", answers=placeholders, reference="x", aspect=aspect)
    text = "".join(message["content"] for message in messages)
    return max(0, tokens_of(text) - answers - 2)


def apportion(weights: Mapping[str, float]) -> dict[str, int]:
    """Round fractional counts to whole ones that add up to the rounded total (largest remainders first)."""
    total = round(sum(weights.values()))
    floors = {name: math.floor(value + 1e-9) for name, value in weights.items()}
    order = sorted(weights, key=lambda name: floors[name] - weights[name])
    for name in order[: max(0, total - sum(floors.values()))]:
        floors[name] += 1
    return {name: count for name, count in floors.items() if count}


def _answer(size: SampleSize, plan: _Plan, role: str) -> int:
    """The length of an answer still to be written: the sample's own answer's, else the model's max_tokens."""
    return size.own_answer if size.own_answer is not None else plan.budget(role)


def _plan_item(strategy: Strategy, roles: Mapping[str, str], size: SampleSize, plan: _Plan) -> None:
    name, params, lang = strategy.name, strategy.params, size.lang
    existing = strategy.uses_existing
    if name == "rules":
        return
    if name != "backtranslate" and not size.has_prompt:
        plan.skipped["no_prompt"] += 1
        return
    if name == "generate":
        for role in roles:
            prompts = {"last": (size.prompt,), "first": (size.first_prompt,)}.get(params["turn"], size.turn_prompts)
            for prompt in prompts:
                plan.add(role, prompt)
    elif name == "verify":
        if not size.reference:
            plan.skipped["no_reference"] += 1
            return
        judged = size.answers if existing else (_answer(size, plan, "A"),)
        if existing and not judged:
            plan.skipped["not_enough_answers"] += 1
            return
        if not existing:
            plan.add("A", size.prompt)
        for answer in judged:
            plan.add("B", template_tokens("verify", lang) + size.prompt + size.reference + answer)
    elif name == "consistency":
        if existing:
            if len(size.answers) < 2:
                plan.skipped["not_enough_answers"] += 1
                return
            pair = size.answers[:2]
        else:
            plan.add("A", size.prompt)
            plan.add("C", size.prompt)
            pair = (_answer(size, plan, "A"), _answer(size, plan, "C"))
        plan.add("B", template_tokens("consistency", lang, 2) + size.prompt + sum(pair))
    elif name == "pairwise":
        pool = list(roles)
        share = 2 / len(pool)  # each role answers 2/n of the time and judges 1/n, in both orders
        if existing:
            if len(size.answers) < 2:
                plan.skipped["not_enough_answers"] += 1
                return
            pair = sum(size.answers[:2])
        else:
            pair = 2 * sum(_answer(size, plan, role) for role in pool) / len(pool)
            for role in pool:
                plan.add(role, size.prompt, share)
        for role in pool:
            plan.add(role, template_tokens("pairwise", lang, 2) + size.prompt + pair, share)
    elif name == "rate":
        if existing:
            answers = size.answers[:4]
            if not answers:
                plan.skipped["not_enough_answers"] += 1
                return
        else:
            respondents = [role for role in RESPONDENT_ROLES if role in roles]
            for role in respondents:
                plan.add(role, size.prompt)
            answers = tuple(_answer(size, plan, role) for role in respondents)
        aspects = FOUR_ASPECTS if params["aspects"] == "all" else ("overall",)
        for aspect in aspects:
            plan.add("B", template_tokens("rate", lang, len(answers), aspect) + size.prompt + sum(answers))
    elif name == "polish":
        if not size.answers:
            plan.skipped["not_enough_answers"] += 1
            return
        plan.add("A", template_tokens("polish", lang) + size.prompt + size.answers[0])
    elif name == "backtranslate":
        if size.output_text is None:
            plan.skipped["no_output"] += 1
            return
        plan.add("A", template_tokens("backtranslate", lang) + size.output_text)
        scorer = "B" if "B" in roles else "A"
        instruction = size.prompt if size.own_answer is not None and size.prompt else plan.budget("A")
        if params["score"] == "quality":
            plan.add(scorer, template_tokens("instruction_quality", lang, 0) + instruction)
        else:
            plan.add(scorer, template_tokens("instruction_score", lang) + instruction + size.output_text)


def sample_sizes(store: Store, ids: Sequence[str]) -> tuple[list[SampleSize], int]:
    """Return the sizes of the samples `ids` (profile columns, else measured from messages) and how many were not
    profiled."""
    from blossom_studio.profile.texts import sample_texts
    from blossom_studio.synth.context import text_language

    sizes: list[SampleSize] = []
    unprofiled: dict[str, int] = {}
    for sample_id, profiled, prompt_lang, roles, chars, zh_chars, total, ref_chars, ref_han in store.query(
        _SIZES_SQL, [list(ids)]
    ):
        reference = text_tokens(ref_chars, ref_han)
        if not profiled or roles is None or chars is None:
            unprofiled[sample_id] = reference
            continue
        share = min(1.0, (zh_chars or 0) / total) if total else 0.0
        entries = [(role, n, round(n * share)) for role, n in zip(roles, chars, strict=False)]
        sizes.append(SampleSize.from_entries(entries, "zh" if prompt_lang == "zh" else "en", reference))
    if unprofiled:
        for sample_id, messages, candidates in store.query(_TEXTS_SQL, [list(unprofiled)]):
            texts = sample_texts(messages, candidates)
            entries = [(role, len(text), len(HAN.findall(text))) for role, text in texts]
            lang = text_language("\n".join(text for role, text in texts if role == "user"))
            sizes.append(SampleSize.from_entries(entries, lang, unprofiled[sample_id]))
    return sizes, len(unprofiled)


def estimate_job(
    store: Store,
    roster: Roster,
    *,
    strategy: str,
    roles: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    selection: Selection | None = None,
) -> Estimate:
    """Estimate the calls and tokens a job would make, validating the strategy, roles and selection as a start does."""
    built, specs = strategy_for_roles(strategy, params, roles, roster)
    ids = select_sample_ids(store, selection or Selection())
    sizes, unprofiled = sample_sizes(store, ids)
    plan = _Plan(specs)
    for size in sizes:
        _plan_item(built, roles, size, plan)
    notes = []
    if built.name in ("verify", "consistency"):
        notes.append("calls are an upper bound: the judge is not asked when a rule check decides")
    if built.name not in ("generate", "rules"):
        notes.append("an unparseable verdict costs one more (repair) call, not counted here")
    unbounded = sorted({spec.name for spec in specs.values() if max_tokens(spec) is None})
    if unbounded:
        notes.append(f"no max_tokens in the params of {', '.join(unbounded)}: counted {DEFAULT_OUTPUT_TOKENS} "
                     "output tokens per call")
    if unprofiled:
        notes.append(f"{unprofiled:,} samples are not profiled yet: measured from their messages")
    notes.append("calls already in the cache are not sent again")
    return Estimate(
        strategy=built.name,
        samples=len(ids),
        calls=round(sum(plan.calls.values())),  # == sum(calls_by_model.values())
        input_tokens=round(plan.input),
        output_tokens=round(plan.output),
        calls_by_model=apportion(plan.calls),
        skipped=dict(plan.skipped.most_common()),
        unprofiled=unprofiled,
        notes=notes,
    )
