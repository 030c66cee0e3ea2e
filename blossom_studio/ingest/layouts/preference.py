"""Preference pairs: chosen/rejected as strings, objects, message lists, `output` pairs or HH transcripts."""

from __future__ import annotations

import re
from typing import Any

from blossom_studio.ingest.errors import RecordError, type_name
from blossom_studio.ingest.layouts.base import (
    Layout,
    candidate,
    finish,
    first_key,
    prompt_text,
    reference_of,
    system_messages,
)
from blossom_studio.ingest.layouts.sharegpt import sharegpt_messages
from blossom_studio.ingest.records import Candidate, Sample, check_conversation, message, messages_from_list

PAIR_KEYS = (("chosen", "rejected"), ("response_chosen", "response_rejected"))
PROMPT_KEYS = ("prompt", "question", "instruction", "query", "input")
RATING_KEYS = {"chosen": ("chosen_rating", "score_chosen", "chosen_score"),
               "rejected": ("rejected_rating", "score_rejected", "rejected_score")}
MODEL_KEYS = {"chosen": ("chosen_model", "model_chosen"), "rejected": ("rejected_model", "model_rejected")}
HH_TURN = re.compile(r"\n\n(Human|Assistant):[ ]?")


def hh_transcript(text: str, path: str) -> list[dict[str, Any]]:
    """Split an Anthropic HH transcript ("\\n\\nHuman: ... \\n\\nAssistant: ...") into messages."""
    parts = HH_TURN.split(text if text.startswith("\n\n") else "\n\n" + text)
    if parts[0].strip() or len(parts) < 3:
        raise RecordError("not a Human/Assistant transcript", path)
    return [message("user" if speaker == "Human" else "assistant", body, path)
            for speaker, body in zip(parts[1::2], parts[2::2], strict=True)]


def _is_transcript(value: Any) -> bool:
    return isinstance(value, str) and "Human:" in value and "Assistant:" in value


def _last_turn_of(prompt: list[dict[str, Any]], context: list[dict[str, Any]]) -> bool:
    """Whether `prompt` is one user turn that is the last user turn of a longer `context` (a system prompt or earlier
    turns): Tulu 3 and this studio's preference export keep that turn in `prompt`, the whole conversation in
    `chosen`/`rejected`."""
    if len(prompt) != 1 or prompt[0]["role"] != "user" or len(context) <= 1:
        return False
    users = [m for m in context if m["role"] == "user"]
    return bool(users) and users[-1]["content"] == prompt[0]["content"]


class PreferenceLayout(Layout):
    """A prompt with a chosen and a rejected answer; both answers become candidates labelled as such."""

    name = "preference"

    def matches(self, record: dict[str, Any]) -> bool:
        if any(a in record or b in record for a, b in PAIR_KEYS):
            return True
        return isinstance(record.get("output"), list) and first_key(record, PROMPT_KEYS) is not None

    def convert(self, record: dict[str, Any]) -> Sample:
        used: set[str] = set()
        if isinstance(record.get("output"), list) and not any(a in record for a, _ in PAIR_KEYS):
            pair = record["output"]
            if len(pair) != 2:
                raise RecordError(f"expected [chosen, rejected], got {len(pair)} answers", "output")
            used.add("output")
            answers = {"chosen": (pair[0], "output[0]"), "rejected": (pair[1], "output[1]")}
        else:
            chosen_key, rejected_key = next((a, b) for a, b in PAIR_KEYS if a in record or b in record)
            for key in (chosen_key, rejected_key):
                if key not in record:
                    raise RecordError(f"missing; a preference pair needs both {chosen_key} and {rejected_key} "
                                      f"(for a single answer use --map prompt=FIELD,response={chosen_key})", key)
            used.update((chosen_key, rejected_key))
            answers = {"chosen": (record[chosen_key], chosen_key), "rejected": (record[rejected_key], rejected_key)}
        system = system_messages(record, used)
        prompt = self._prompt(record, used)
        transcripts = prompt is None  # without a prompt field, every answer may be a whole HH transcript
        candidates: list[Candidate] = []
        for label, (value, path) in answers.items():
            context, answer = self._split_answer(value, path, prompt, transcripts=transcripts)
            if prompt is None or (context is not None and _last_turn_of(prompt, context)):
                prompt = context
            elif context is not None and context != prompt:
                raise RecordError("the conversation before this answer differs from the prompt", path)
            candidates.append(self._candidate(record, used, label, answer, path))
        if prompt is None:
            raise RecordError("no prompt found (looked for prompt, question, instruction, input, conversations, "
                              "messages); map it with --map prompt=FIELD,chosen=FIELD,rejected=FIELD")
        return finish(record, check_conversation(system + prompt, "prompt"), used, candidates=candidates,
                      reference=reference_of(record, used))

    def _prompt(self, record: dict[str, Any], used: set[str]) -> list[dict[str, Any]] | None:
        """Return the prompt turns from the record's own prompt field (without a top-level system), or None."""
        if "conversations" in record:
            used.add("conversations")
            return sharegpt_messages(record["conversations"], "conversations")
        if "messages" in record:
            used.add("messages")
            return messages_from_list(record["messages"], "messages")
        key = first_key(record, PROMPT_KEYS)
        if key is None:
            return None
        if isinstance(record[key], list):
            used.add(key)
            return messages_from_list(record[key], key)
        return [message("user", prompt_text(record, used, PROMPT_KEYS), key)]

    def _split_answer(self, value: Any, path: str, prompt: list[dict[str, Any]] | None, *, transcripts: bool
                      ) -> tuple[list[dict[str, Any]] | None, Any]:
        """Return (conversation before the answer if the value carries one, the answer itself)."""
        if isinstance(value, list):
            turns = (sharegpt_messages(value, path) if value and isinstance(value[0], dict) and "from" in value[0]
                     else messages_from_list(value, path))
            if turns[-1]["role"] != "assistant":
                raise RecordError("the last message is not an assistant answer", path)
            context = turns[:-1]
            if prompt is not None and not context:
                context = None
            return context, turns[-1]
        if transcripts and _is_transcript(value):
            turns = hh_transcript(value, path)
            if turns[-1]["role"] != "assistant":
                raise RecordError("the transcript does not end with an Assistant turn", path)
            return turns[:-1], turns[-1]
        if value is None:
            raise RecordError("missing", path)
        if not isinstance(value, (str, dict)):
            raise RecordError(f"expected a string, an answer object or a message list, got {type_name(value)}",
                              path)
        return None, value

    def _candidate(self, record: dict[str, Any], used: set[str], label: str, answer: Any, path: str) -> Candidate:
        model_key = first_key(record, MODEL_KEYS[label])
        rating_key = first_key(record, RATING_KEYS[label])
        used.update(k for k in (model_key, rating_key) if k)
        extra = {"rating": record[rating_key]} if rating_key else None
        model = str(record[model_key]) if model_key else None
        if isinstance(answer, dict) and "role" in answer and "content" in answer and len(answer) >= 2:
            return Candidate(answer, model=model, label=label, extra=extra)
        return candidate(answer, path, model=model, label=label, extra=extra)
