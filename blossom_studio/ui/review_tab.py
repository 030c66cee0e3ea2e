"""The Review tab: a queue of judged samples, answers side by side, the judge's verdict, overrides and shortcuts.

Stable elem_ids (browser tests and ui/shortcuts.js rely on them):

- ``review-root``: the tab's content (shortcuts act only while it is visible)
- queue: ``review-filter``, ``review-source``, ``review-kind``, ``review-job``, ``review-seed``, ``review-blind``,
  ``review-advance``, ``review-prev``, ``review-next``, ``review-counter``, ``review-sample-id`` (shows the open
  sample; type an id and press Enter to open it), ``review-status``
- item: ``review-prompt``, ``review-reference``, ``review-answer-a`` .. ``review-answer-d`` (Chatbots),
  ``review-verdict`` (summary), ``review-verdict-details`` (plain text), ``review-effective``, ``review-conflict``,
  ``review-history``
- actions: ``review-accept``, ``review-choose-1`` .. ``review-choose-4``, ``review-tie``, ``review-both-bad``,
  ``review-reject``, ``review-undo``, ``review-note``, ``review-note-save``, ``review-edit-which``,
  ``review-edit-text``, ``review-edit-save``
- bulk accept: ``review-bulk``, ``review-bulk-confirm-box``, ``review-bulk-message``, ``review-bulk-confirm``,
  ``review-bulk-cancel``
- statistics: ``review-stats-refresh``, ``review-stats-summary``, ``review-stats-agreement``, ``review-stats-bias``,
  ``review-stats-reviewers``

Shortcuts (1-4 choose, 0 tie, x both bad, a accept, r reject, e edit, u undo, j/k next/previous, ? help) attach
through a load event of this tab; `shortcuts_head()` gives the same script for ``launch(head=...)`` if preferred.
Model and user text reaches the page only through Chatbots, Textboxes and Dataframes, never gr.HTML; every other
dynamic string in Markdown is escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from blossom_studio import review
from blossom_studio.review import QueueSlot, ReviewError, ReviewItem
from blossom_studio.ui.render import LATEX_DELIMITERS, chat_messages
from blossom_studio.ui.studio import Studio

ALL = "(all)"
SHORTCUTS_FILE = Path(__file__).with_name("shortcuts.js")
FILTER_CHOICES = [(f"{name.replace('_', ' ')}: {review.FILTER_HELP[name]}", name) for name in review.FILTERS]
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:])")


def shortcuts_js() -> str:
    """Return the shortcuts script (an immediately invoked function that attaches once per page)."""
    return SHORTCUTS_FILE.read_text(encoding="utf-8")


def shortcuts_head() -> str:
    """Return the shortcuts as a `<script>` element for `launch(head=...)` (optional: the tab attaches them too)."""
    return f"<script>\n{shortcuts_js()}\n</script>"


def md(text: object) -> str:
    """Escape text for Markdown: Markdown punctuation is backslash-escaped, then <, > and & become entities."""
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", str(text)), quote=False)


@dataclass(frozen=True)
class Queue:
    """The queue a handler works on, from the filter dropdowns."""

    filter: str = "pending"
    source: str | None = None
    kind: str | None = None
    job: str | None = None
    seed: int = 0

    @classmethod
    def of(cls, filter: str | None, source: str | None, kind: str | None, job: str | None,
           seed: float | None) -> Queue:
        """Build a queue from dropdown values, where "(all)" and empty mean no restriction."""
        def pick(value: str | None) -> str | None:
            return None if not value or value == ALL else value
        return cls(filter or "pending", pick(source), pick(kind), pick(job), int(seed or 0))

    def args(self) -> dict[str, Any]:
        """Keyword arguments for the review queue functions."""
        return {"filter": self.filter, "source": self.source, "kind": self.kind, "job": self.job, "seed": self.seed}

    def describe(self) -> str:
        """A short Markdown-safe description such as "pending · pairwise"."""
        parts = [self.filter.replace("_", " "), self.source, self.kind, self.job and f"job {self.job}"]
        return " · ".join(md(part) for part in parts if part)


# --- text for one item -----------------------------------------------------------------------------------------------


def counter_text(queue: Queue, slot: QueueSlot | None, sample_id: str | None) -> str:
    """Return "Item i of N" for the open sample, or say that the queue is empty or that it left the queue."""
    if sample_id is None:
        return f"The **{queue.describe()}** queue is empty."
    if slot is None or slot.total == 0:
        return f"This sample is not in the **{queue.describe()}** queue (it is empty now)."
    if not slot.in_queue:
        return f"Decided: no longer in the **{queue.describe()}** queue · {slot.total:,} left"
    return f"Item **{slot.index + 1:,}** of **{slot.total:,}** · {queue.describe()}"


def _letters(item: ReviewItem) -> dict[str, str]:
    """Map the candidate ids of the item's verdict (originals and current revisions) to their letters."""
    letters = {slot.candidate.id: slot.letter for slot in item.slots}
    letters |= {slot.candidate.original: slot.letter for slot in item.slots}
    if item.verdict is not None:
        letters |= {cid: review.LETTERS[i] for i, cid in enumerate(item.verdict.candidate_ids[:4])}
    return letters


def verdict_summary(item: ReviewItem, blind: bool) -> str:
    """Return one escaped Markdown line on the judge's verdict (kind, judge, job, parse status, outcome)."""
    verdict = item.verdict
    if verdict is None:
        return "No judge verdict on this sample: decide it yourself."
    parts = [f"**{md(verdict.kind)}** by **{md(verdict.judge)}**"]
    if verdict.job:
        parts.append(f"job {md(verdict.job)}")
    parts.append(f"parse {md(verdict.parse_status)}")
    e = item.effective
    if e is not None and e.judge_keep is not None:
        if e.judge_winner:
            parts.append(f"judge's winner **{md(e.judge_winner)}**")
        parts.append("keep" if e.judge_keep else "**reject**")
    if verdict.outcome and verdict.outcome.get("split"):
        parts.append("**orders split** (position bias)")
    if not blind and item.slots:
        parts.append("answers " + ", ".join(f"{slot.letter} = {md(slot.candidate.model or slot.candidate.label)}"
                                             for slot in item.slots))
    return " · ".join(parts)


def _order_lines(verdict: review.VerdictView, blind: bool) -> list[str]:
    orders = (verdict.details or {}).get("orders")
    if not isinstance(orders, list):
        return []
    lines = []
    for number, order in enumerate(orders[:2], start=1):
        shown = "A then B" if number == 1 else "B then A"
        said = order.get("verdict")
        mapped = said if number == 1 or said not in ("A", "B") else {"A": "B", "B": "A"}[said]
        models = "" if blind else f" ({' then '.join(str(name) for name in order.get('shown', []))})"
        lines.append(f"order {number}, {shown}{models}: judge said {said or 'nothing parsable'}"
                     + (f" → {mapped}" if mapped != said else "") + f" [{order.get('parse_status')}]")
    return lines


def _rating_lines(verdict: review.VerdictView, letters: dict[str, str]) -> list[str]:
    outcome = verdict.outcome or {}
    lines = []
    for cid, by_aspect in (outcome.get("ratings") or {}).items():
        values = ", ".join(f"{aspect} {'N/A' if value is None else value}" for aspect, value in by_aspect.items())
        mean = (outcome.get("mean") or {}).get(cid)
        lines.append(f"{letters.get(cid, cid)}: {values} · mean {'N/A' if mean is None else mean}")
    pair = outcome.get("pair")
    if isinstance(pair, dict):
        lines.append(f"pair: chosen {letters.get(pair.get('chosen'), '?')}, rejected "
                     f"{letters.get(pair.get('rejected'), '?')}, margin {pair.get('margin')}")
    elif "reason" in outcome:
        lines.append(f"no pair: {outcome['reason']}")
    for cid, by_aspect in ((verdict.details or {}).get("rationales") or {}).items():
        for aspect, text in by_aspect.items():
            if text:
                lines.append(f"{letters.get(cid, cid)} [{aspect}]: {text}")
    return lines


def verdict_details(item: ReviewItem, blind: bool) -> str:
    """Return the verdict as plain text for a Textbox: per-order verdicts, ratings, outcome, rationale, other flags."""
    lines: list[str] = []
    verdict = item.verdict
    if verdict is not None:
        letters = _letters(item)
        lines += _order_lines(verdict, blind)
        if verdict.kind == "rating":
            lines += _rating_lines(verdict, letters)
        elif verdict.outcome:
            shown = {key: value for key, value in verdict.outcome.items() if key not in ("chosen", "rejected")}
            lines.append("outcome: " + ", ".join(f"{key} {value}" for key, value in shown.items()))
        parse_error = (verdict.details or {}).get("parse_error")
        if parse_error:
            lines.append(f"parse error: {parse_error}")
        if verdict.rationale:
            lines += ["", "rationale:", verdict.rationale]
    for other in item.verdicts:
        if verdict is None or other.id != verdict.id:
            outcome = other.outcome or {}
            lines.append(f"[{other.kind} by {other.judge}] " + ", ".join(f"{k} {v}" for k, v in outcome.items()))
    return "\n".join(lines).strip()


def effective_text(item: ReviewItem) -> str:
    """Return an escaped Markdown line on what counts now: the person's decision or the judge's verdict."""
    e = item.effective
    if e is None:
        return "Nothing decided yet."
    keep = "keep" if e.keep else ("reject" if e.keep is False else "undecided (the judge's output did not parse)")
    winner = f" · winner **{md(e.winner)}**" if e.winner else ""
    if e.source == "human":
        agreement = " · **disagrees with the judge**" if e.disagrees else ""
        who = f"{md(e.reviewer)} ({md((e.action or '').replace('_', ' '))})"
        return f"Effective: **{keep}**{winner} · decided by {who}{agreement}"
    return f"Effective: **{keep}**{winner} · from the judge (no person has decided)"


def conflict_text(item: ReviewItem) -> str:
    """Return "N reviewers disagree: alice chose A, bob chose B; latest wins (bob)", or nothing without a conflict."""
    if item.effective is None or not item.effective.conflict:
        return ""
    positions = item.positions
    said = ", ".join(f"{md(d.reviewer)} {md(review.describe(d))}" for d in positions)
    count = {2: "Two", 3: "Three"}.get(len(positions), str(len(positions)))
    return f"⚠ {count} reviewers disagree: {said}; latest wins ({md(positions[-1].reviewer)})."


def history_rows(item: ReviewItem) -> list[list[Any]]:
    """Return the decision history as table rows (time, reviewer, action, note, undone), newest first."""
    rows = []
    for d in reversed(item.history):
        rows.append([d.created_at.strftime("%Y-%m-%d %H:%M:%S"), d.reviewer, review.describe(d), d.note or "",
                     "undone" if d.undone else ""])
    return rows


def prompt_messages(item: ReviewItem) -> list[dict[str, Any]]:
    """Return the conversation up to its last user turn, as Chatbot messages."""
    messages = item.messages
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return chat_messages(messages[: users[-1] + 1] if users else messages)


def slot_title(slot: review.Slot, blind: bool) -> str:
    """Return a slot's heading: "Answer A", plus model, label and revision unless blind."""
    candidate = slot.candidate
    title = f"Answer {slot.letter}"
    if candidate.revision_of:
        title += " (edited)"
    if blind:
        return title
    extras = [part for part in (candidate.model, candidate.label, candidate.origin) if part]
    return f"{title} · {' · '.join(extras)}" if extras else title


# --- the tab ---------------------------------------------------------------------------------------------------------


@dataclass
class ReviewTab:
    """The tab's components and handlers, returned so that tests (and app code) can reach them."""

    components: dict[str, Any]
    handlers: dict[str, Any]


def build_review_tab(demo: gr.Blocks, studio: Studio) -> ReviewTab:
    """Lay out the Review tab and wire its handlers to review.py; every writing handler checks the user itself."""
    store = studio.store
    c: dict[str, Any] = {}
    with gr.Column(elem_id="review-root"):
        with gr.Row():
            c["filter"] = gr.Dropdown(label="Queue", choices=FILTER_CHOICES, value="pending", scale=3,
                                      elem_id="review-filter")
            c["source"] = gr.Dropdown(label="Source", choices=[ALL], value=ALL, scale=1, elem_id="review-source")
            c["kind"] = gr.Dropdown(label="Verdict kind", choices=[ALL, *review.JUDGE_KINDS], value=ALL, scale=1,
                                    elem_id="review-kind")
            c["job"] = gr.Dropdown(label="Job", choices=[ALL], value=ALL, scale=1, elem_id="review-job")
            c["seed"] = gr.Number(label="Audit seed", value=0, precision=0, scale=1, min_width=90,
                                  elem_id="review-seed")
        with gr.Row(equal_height=True):
            c["prev"] = gr.Button("← Previous (k)", size="sm", elem_id="review-prev", scale=1)
            c["counter"] = gr.Markdown(elem_id="review-counter")
            c["next"] = gr.Button("Next (j) →", size="sm", elem_id="review-next", scale=1)
            c["sample_id"] = gr.Textbox(label="Sample id", max_lines=1, scale=2, elem_id="review-sample-id")
            c["blind"] = gr.Checkbox(label="Blind (hide models)", value=True, scale=1, elem_id="review-blind")
            c["advance"] = gr.Checkbox(label="Next after deciding", value=True, scale=1, elem_id="review-advance")
        c["status"] = gr.Markdown(elem_id="review-status")
        c["prompt"] = gr.Chatbot(label="Prompt", height=240, latex_delimiters=LATEX_DELIMITERS, allow_tags=False,
                                 feedback_options=None, buttons=[], elem_id="review-prompt")
        c["reference"] = gr.Textbox(label="Reference answer", lines=2, interactive=False, visible=False,
                                    elem_id="review-reference")
        with gr.Row(equal_height=True):
            for letter in review.LETTERS:
                c[f"answer_{letter}"] = gr.Chatbot(
                    label=f"Answer {letter}", height=420, latex_delimiters=LATEX_DELIMITERS, allow_tags=False,
                    feedback_options=None, buttons=[], visible=letter in "AB",
                    elem_id=f"review-answer-{letter.lower()}")
        c["verdict"] = gr.Markdown(elem_id="review-verdict")
        c["details"] = gr.Textbox(label="Judge's verdict: orders, ratings, rationale", lines=4, max_lines=14,
                                  interactive=False, elem_id="review-verdict-details")
        c["effective"] = gr.Markdown(elem_id="review-effective")
        c["conflict"] = gr.Markdown(elem_id="review-conflict")
        with gr.Row():
            c["accept"] = gr.Button("Accept judge (a)", variant="primary", elem_id="review-accept")
            for number, letter in enumerate(review.LETTERS, start=1):
                c[f"choose_{number}"] = gr.Button(f"{letter} is better ({number})", visible=letter in "AB",
                                                  elem_id=f"review-choose-{number}")
            c["tie"] = gr.Button("Tie (0)", elem_id="review-tie")
            c["both_bad"] = gr.Button("Both bad (x)", elem_id="review-both-bad")
            c["reject"] = gr.Button("Reject sample (r)", variant="stop", elem_id="review-reject")
            c["undo"] = gr.Button("Undo my last (u)", elem_id="review-undo")
        with gr.Row():
            c["note"] = gr.Textbox(label="Note (saved with the next decision, or on its own)", max_lines=3, scale=4,
                                   elem_id="review-note")
            c["note_save"] = gr.Button("Save note", scale=1, elem_id="review-note-save")
        with gr.Row():
            c["edit_which"] = gr.Dropdown(label="Edit answer", choices=["A", "B"], value="A", scale=1,
                                          elem_id="review-edit-which")
            c["edit_text"] = gr.Textbox(label="Edited answer (e): saving makes a new revision", lines=5, scale=5,
                                        elem_id="review-edit-text")
            c["edit_save"] = gr.Button("Save revision", scale=1, elem_id="review-edit-save")
        c["history"] = gr.Dataframe(headers=["time", "reviewer", "action", "note", "undone"], datatype="str",
                                    interactive=False, wrap=True, label="Decision history", elem_id="review-history")
        with gr.Row():
            c["bulk"] = gr.Button("Accept the judge on this whole queue…", size="sm", elem_id="review-bulk")
        with gr.Group(visible=False, elem_id="review-bulk-confirm-box") as confirm_box:
            c["bulk_message"] = gr.Markdown(elem_id="review-bulk-message")
            with gr.Row():
                c["bulk_confirm"] = gr.Button("Yes, accept them", variant="primary", elem_id="review-bulk-confirm")
                c["bulk_cancel"] = gr.Button("Cancel", elem_id="review-bulk-cancel")
        c["bulk_box"] = confirm_box
        with gr.Accordion("Review statistics", open=False):
            c["stats_refresh"] = gr.Button("Refresh", size="sm", elem_id="review-stats-refresh")
            c["stats_summary"] = gr.Markdown(elem_id="review-stats-summary")
            c["stats_agreement"] = gr.Dataframe(headers=["judge", "decided", "agreed", "agreement"], datatype="str",
                                                interactive=False, label="Human-judge agreement (one-by-one decisions)",
                                                elem_id="review-stats-agreement")
            c["stats_bias"] = gr.Dataframe(headers=["judge", "pairwise parsed", "orders split", "rate"],
                                           datatype="str", interactive=False, label="Position bias",
                                           elem_id="review-stats-bias")
            c["stats_reviewers"] = gr.Dataframe(headers=["reviewer", "decisions", "edits", "notes", "undos"],
                                                datatype="str", interactive=False, label="Reviewers",
                                                elem_id="review-stats-reviewers")
    c["current"] = gr.State(None)
    c["verdict_id"] = gr.State(None)

    item_outputs = [c[name] for name in (
        "current", "verdict_id", "sample_id", "counter", "prompt", "reference", *(f"answer_{x}" for x in "ABCD"),
        *(f"choose_{n}" for n in range(1, 5)), "verdict", "details", "effective", "conflict", "history",
        "edit_which", "edit_text")]
    queue_inputs = [c["filter"], c["source"], c["kind"], c["job"], c["seed"]]
    with_status = [*item_outputs, c["status"]]

    def show(sample_id: str | None, queue: Queue, blind: bool, slot: QueueSlot | None = None) -> dict[Any, Any]:
        """Return the updates that display one sample (or an empty queue when sample_id is None)."""
        item = review.load_item(store, sample_id) if sample_id else None
        if sample_id and slot is None:
            slot = review.queue_locate(store, sample_id, **queue.args())
        out: dict[Any, Any] = {c["current"]: item.sample_id if item else None,
                               c["verdict_id"]: item.verdict.id if item and item.verdict else None,
                               c["sample_id"]: item.sample_id if item else "",
                               c["counter"]: counter_text(queue, slot, item.sample_id if item else None)}
        if item is None:
            out |= {c["prompt"]: [], c["reference"]: gr.update(value="", visible=False),
                    c["verdict"]: "" if not sample_id else f"No sample with id **{md(sample_id)}**.",
                    c["details"]: "", c["effective"]: "", c["conflict"]: "", c["history"]: [],
                    c["edit_which"]: gr.update(choices=["A"], value="A"), c["edit_text"]: ""}
            for number, letter in enumerate(review.LETTERS, start=1):
                out[c[f"answer_{letter}"]] = gr.update(value=[], label=f"Answer {letter}", visible=letter in "AB")
                out[c[f"choose_{number}"]] = gr.update(visible=letter in "AB")
            return out
        by_letter = {s.letter: s for s in item.slots}
        for number, letter in enumerate(review.LETTERS, start=1):
            slot_here = by_letter.get(letter)
            visible = slot_here is not None or letter in "AB"
            value = chat_messages([slot_here.candidate.message]) if slot_here else []
            label = slot_title(slot_here, blind) if slot_here else f"Answer {letter} (none)"
            out[c[f"answer_{letter}"]] = gr.update(value=value, label=label, visible=visible)
            out[c[f"choose_{number}"]] = gr.update(visible=visible, interactive=slot_here is not None)
        winner = item.effective.winner if item.effective else None
        letters = [s.letter for s in item.slots] or ["A"]
        pick = winner if winner in letters else letters[0]
        out |= {
            c["prompt"]: prompt_messages(item),
            c["reference"]: gr.update(value=item.reference or "", visible=bool(item.reference)),
            c["verdict"]: verdict_summary(item, blind),
            c["details"]: verdict_details(item, blind),
            c["effective"]: effective_text(item),
            c["conflict"]: conflict_text(item),
            c["history"]: history_rows(item),
            c["edit_which"]: gr.update(choices=letters, value=pick),
            c["edit_text"]: by_letter[pick].candidate.text if pick in by_letter else "",
        }
        return out

    def first(queue: Queue, blind: bool) -> dict[Any, Any]:
        page = review.queue_page(store, limit=1, **queue.args())
        if not page.sample_ids:
            return show(None, queue, blind)
        return show(page.sample_ids[0], queue, blind, QueueSlot(page.sample_ids[0], 0, page.total))

    def after(current: str | None, queue: Queue, blind: bool, direction: str = "next") -> dict[Any, Any]:
        """Show the queue item after (or before) `current`; stay on `current` at the end of the queue."""
        if not current:
            return first(queue, blind)
        step = review.queue_neighbour(store, current, direction=direction, **queue.args())
        if step is None:
            shown = show(current, queue, blind)
            shown[c["status"]] = f"That was the {'last' if direction == 'next' else 'first'} item of this queue."
            return shown
        return show(step.sample_id, queue, blind, step)

    def load(filter: str, source: str, kind: str, job: str, seed: float, blind: bool) -> dict[Any, Any]:
        choices = review.filter_choices(store)
        out = first(Queue.of(filter, source, kind, job, seed), blind)
        out |= {c["source"]: gr.update(choices=[ALL, *choices.sources]),
                c["job"]: gr.update(choices=[ALL, *choices.jobs]), c["status"]: ""}
        return out

    def change_queue(filter: str, source: str, kind: str, job: str, seed: float, blind: bool) -> dict[Any, Any]:
        try:
            return {**first(Queue.of(filter, source, kind, job, seed), blind), c["status"]: ""}
        except ReviewError as exc:
            return {c["status"]: f"⚠ {md(exc)}"}

    def step(direction: str) -> Any:
        def handler(current: str | None, filter: str, source: str, kind: str, job: str, seed: float,
                    blind: bool) -> dict[Any, Any]:
            return {c["status"]: "", **after(current, Queue.of(filter, source, kind, job, seed), blind, direction)}
        handler.__name__ = f"review_{direction}"
        return handler

    def open_sample(sample_id: str, filter: str, source: str, kind: str, job: str, seed: float,
                    blind: bool) -> dict[Any, Any]:
        return {c["status"]: "", **show(sample_id.strip() or None, Queue.of(filter, source, kind, job, seed), blind)}

    def redisplay(current: str | None, filter: str, source: str, kind: str, job: str, seed: float,
                  blind: bool) -> dict[Any, Any]:
        return show(current, Queue.of(filter, source, kind, job, seed), blind)

    def decider(action: str, winner: str | None = None) -> Any:
        def handler(current: str | None, verdict_id: str | None, filter: str, source: str, kind: str, job: str,
                    seed: float, blind: bool, advance: bool, note: str, request: gr.Request) -> dict[Any, Any]:
            reviewer = studio.writer(request)
            queue = Queue.of(filter, source, kind, job, seed)
            if not current:
                return {c["status"]: "Open a sample first."}
            try:
                decision = review.decide(store, current, action, reviewer=reviewer, verdict_id=verdict_id,
                                         winner=winner, note=note)
            except ReviewError as exc:
                return {c["status"]: f"⚠ {md(exc)}"}
            out = after(current, queue, blind) if advance else show(current, queue, blind)
            status = f"{md(reviewer)} {md(review.describe(decision))} on **{md(current)}**."
            if out.get(c["status"]):
                status += f" {out[c['status']]}"
            return {**out, c["status"]: status, c["note"]: ""}
        handler.__name__ = f"review_{action}" + (f"_{winner}" if winner else "")
        return handler

    def save_note(current: str | None, note: str, filter: str, source: str, kind: str, job: str, seed: float,
                  blind: bool, request: gr.Request) -> dict[Any, Any]:
        reviewer = studio.writer(request)
        if not current:
            return {c["status"]: "Open a sample first."}
        try:
            review.add_note(store, current, note, reviewer=reviewer)
        except ReviewError as exc:
            return {c["status"]: f"⚠ {md(exc)}"}
        return {**show(current, Queue.of(filter, source, kind, job, seed), blind), c["note"]: "",
                c["status"]: f"Note saved on **{md(current)}**."}

    def pick_edit(current: str | None, verdict_id: str | None, letter: str) -> str:
        if not current:
            return ""
        slots = {s.letter: s for s in review.review_slots(store, current, verdict_id)}
        return slots[letter].candidate.text if letter in slots else ""

    def save_edit(current: str | None, verdict_id: str | None, letter: str, text: str, note: str, filter: str,
                  source: str, kind: str, job: str, seed: float, blind: bool,
                  request: gr.Request) -> dict[Any, Any]:
        reviewer = studio.writer(request)
        if not current:
            return {c["status"]: "Open a sample first."}
        try:
            slots = {s.letter: s for s in review.review_slots(store, current, verdict_id)}
            if letter not in slots:
                raise ReviewError(f"this sample has no answer {letter}")
            review.edit_answer(store, slots[letter].candidate.id, text, reviewer=reviewer, note=note)
        except ReviewError as exc:
            return {c["status"]: f"⚠ {md(exc)}"}
        out = show(current, Queue.of(filter, source, kind, job, seed), blind)
        out[c["edit_which"]] = gr.update(value=letter)
        out[c["edit_text"]] = text
        return {**out, c["note"]: "", c["status"]: f"Saved a new revision of answer {md(letter)}."}

    def undo(filter: str, source: str, kind: str, job: str, seed: float, blind: bool,
             request: gr.Request) -> dict[Any, Any]:
        reviewer = studio.writer(request)
        undone = review.undo_last(store, reviewer=reviewer)
        if undone is None:
            return {c["status"]: f"{md(reviewer)} has nothing left to undo."}
        what = undone.payload.get("action", "decision") if undone.payload else "decision"
        out = show(undone.sample_id, Queue.of(filter, source, kind, job, seed), blind)
        status = f"Undid {md(reviewer)}'s {md(what.replace('_', ' '))} on **{md(undone.sample_id)}**."
        return {**out, c["status"]: status}

    def ask_bulk(filter: str, source: str, kind: str, job: str, seed: float) -> dict[Any, Any]:
        queue = Queue.of(filter, source, kind, job, seed)
        try:
            count = review.count_queue(store, acceptable_only=True, **queue.args())
        except ReviewError as exc:
            return {c["status"]: f"⚠ {md(exc)}", c["bulk_box"]: gr.update(visible=False)}
        if not count:
            return {c["status"]: f"Nothing to accept in the **{queue.describe()}** queue.",
                    c["bulk_box"]: gr.update(visible=False)}
        message = (f"Accept the judge's verdict on **{count:,} items** of the **{queue.describe()}** queue? "
                   "Parse failures and items a person already decided are left out; each item gets its own "
                   "decision, which you can see in its history.")
        return {c["bulk_message"]: message, c["bulk_box"]: gr.update(visible=True), c["status"]: ""}

    def confirm_bulk(filter: str, source: str, kind: str, job: str, seed: float, blind: bool, note: str,
                     request: gr.Request) -> dict[Any, Any]:
        reviewer = studio.writer(request)
        queue = Queue.of(filter, source, kind, job, seed)
        try:
            count = review.bulk_accept(store, reviewer=reviewer, note=note, **queue.args())
        except ReviewError as exc:
            return {c["status"]: f"⚠ {md(exc)}", c["bulk_box"]: gr.update(visible=False)}
        return {**first(queue, blind), c["bulk_box"]: gr.update(visible=False), c["note"]: "",
                c["status"]: f"{md(reviewer)} accepted the judge on {count:,} items."}

    def cancel_bulk() -> dict[Any, Any]:
        return {c["bulk_box"]: gr.update(visible=False), c["status"]: "Bulk accept cancelled."}

    def stats() -> tuple[Any, ...]:
        s = review.review_stats(store)

        def pct(rate: float | None) -> str:
            return "" if rate is None else f"{rate:.0%}"

        summary = (f"Decided by people: **{s.reviewed:,}** · judge only: **{s.pending:,}** · "
                   f"conflicts: **{s.conflicts:,}**")
        return (summary,
                [[a.judge, a.decided, a.agreed, pct(a.rate)] for a in s.agreement],
                [[b.judge, b.pairwise, b.split, pct(b.rate)] for b in s.position_bias],
                [[r.reviewer, r.decisions, r.edits, r.notes, r.undos] for r in s.reviewers])

    handlers: dict[str, Any] = {
        "load": load, "change_queue": change_queue, "next": step("next"), "previous": step("previous"),
        "open": open_sample, "redisplay": redisplay, "save_note": save_note, "pick_edit": pick_edit,
        "save_edit": save_edit, "undo": undo, "ask_bulk": ask_bulk, "confirm_bulk": confirm_bulk,
        "cancel_bulk": cancel_bulk, "stats": stats,
        "accept": decider("accept"), "tie": decider("tie"), "both_bad": decider("both_bad"),
        "reject": decider("reject"),
        **{f"choose_{n}": decider("choose", letter) for n, letter in enumerate(review.LETTERS, start=1)},
    }

    view_inputs = [*queue_inputs, c["blind"]]
    item_state = [c["current"], c["verdict_id"]]
    stats_outputs = [c["stats_summary"], c["stats_agreement"], c["stats_bias"], c["stats_reviewers"]]
    demo.load(handlers["load"], view_inputs, [*with_status, c["source"], c["job"]], api_name="review_load")
    demo.load(None, js=f"() => {{\n{shortcuts_js()}\n}}")
    gr.on([c[name].change for name in ("filter", "source", "kind", "job")] + [c["seed"].submit],
          handlers["change_queue"], view_inputs, with_status, api_name="review_queue")
    c["next"].click(handlers["next"], [c["current"], *view_inputs], with_status, api_name="review_next")
    c["prev"].click(handlers["previous"], [c["current"], *view_inputs], with_status, api_name="review_previous")
    c["sample_id"].submit(handlers["open"], [c["sample_id"], *view_inputs], with_status, api_name="review_open")
    c["blind"].change(handlers["redisplay"], [c["current"], *view_inputs], item_outputs, api_name="review_blind")
    decide_inputs = [*item_state, *view_inputs, c["advance"], c["note"]]
    for name in ("accept", "tie", "both_bad", "reject", "choose_1", "choose_2", "choose_3", "choose_4"):
        c[name].click(handlers[name], decide_inputs, [*with_status, c["note"]], api_name=f"review_{name}")
    c["note_save"].click(handlers["save_note"], [c["current"], c["note"], *view_inputs], [*with_status, c["note"]],
                         api_name="review_note")
    c["edit_which"].input(handlers["pick_edit"], [*item_state, c["edit_which"]], c["edit_text"],
                          api_name="review_pick_edit")
    c["edit_save"].click(handlers["save_edit"], [*item_state, c["edit_which"], c["edit_text"], c["note"],
                                                 *view_inputs], [*with_status, c["note"]], api_name="review_edit")
    c["undo"].click(handlers["undo"], view_inputs, with_status, api_name="review_undo")
    c["bulk"].click(handlers["ask_bulk"], queue_inputs, [c["bulk_message"], c["bulk_box"], c["status"]],
                    api_name="review_bulk_count")
    c["bulk_confirm"].click(handlers["confirm_bulk"], [*view_inputs, c["note"]],
                            [*with_status, c["bulk_box"], c["note"]], api_name="review_bulk_accept")
    c["bulk_cancel"].click(handlers["cancel_bulk"], None, [c["bulk_box"], c["status"]], api_name=False)
    c["stats_refresh"].click(handlers["stats"], None, stats_outputs, api_name="review_stats")
    demo.load(handlers["stats"], None, stats_outputs, api_name=False)
    return ReviewTab(components=c, handlers=handlers)
