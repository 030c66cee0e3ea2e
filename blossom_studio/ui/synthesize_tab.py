"""The Synthesize tab: pick samples, a strategy and models by role, see the cost, start, watch, cancel and resume.

Progress is read from the database on a timer, so a reloaded page, a second browser and the CLI all see the same
job; on load the tab follows the most recent running job (else the newest one).

Element ids (for browser tests):

- selection: `syn-source`, `syn-lang`, `syn-limit`, `syn-saved`, `syn-sample`, `syn-seed`
- models: `syn-roster-note`, `syn-add-simulator`, `syn-refresh-models`, `syn-role-a`, `syn-role-b`, `syn-role-c`
- strategy: `syn-strategy`, `syn-strategy-help`, options `syn-opt-turn`, `syn-opt-answers`, `syn-opt-aspects`,
  `syn-opt-margin`, `syn-opt-score`, `syn-opt-threshold`; `syn-job-name`
- cost and start: `syn-estimate-button`, `syn-estimate`, `syn-start`, `syn-status`
- progress: `syn-job` (the job followed; "(latest job)" follows the newest running one), `syn-progress` (an HTML
  block whose `.syn-progress` element carries `data-job`, `data-status`, `data-done`, `data-failed`, `data-items`
  and `data-percent`, with a `<progress>` bar), `syn-cancel`, `syn-resume`, `syn-retry-failed`, `syn-refresh`,
  `syn-history` (the jobs table)

API names (gradio_client): `synth_choices`, `estimate_job`, `start_job`, `job_progress`, `cancel_job`, `resume_job`,
`synth_add_simulator`. The writing ones (start, cancel, resume, add simulator) check the user on the server.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from blossom_studio.llm.roster import Roster, RosterError
from blossom_studio.llm.simulator import RosterState, start_simulator, studio_roster
from blossom_studio.selections import list_selections
from blossom_studio.synth.estimate import estimate_job
from blossom_studio.synth.jobs import (
    JobError,
    JobProgress,
    cancel_job,
    create_job,
    job_progress,
    recent_jobs,
)
from blossom_studio.synth.runner import start_job_thread
from blossom_studio.synth.selection import Selection, SelectionError
from blossom_studio.synth.strategies import STRATEGIES, StrategyError, make_strategy
from blossom_studio.ui.studio import Studio

ALL_SOURCES = "(all sources)"
ANY_LANG = "any"
NO_SAVED = "(none)"
NOT_USED = "(not used)"
LATEST = "(latest job)"
ROLE_NAMES = ("A", "B", "C")
STRATEGY_NAMES = tuple(STRATEGIES)
OPTION_NAMES = ("turn", "answers", "aspects", "margin", "score", "threshold")
"""The strategy options the form offers (a test checks that they are all the strategies have)."""
RUNNING = ("running", "cancelling")
FAST_TICK = 1.0
IDLE_TICK = 5.0
HISTORY_LIMIT = 20
HISTORY_HEADERS = ["name", "strategy", "status", "items", "done", "failed", "failures", "roles", "created"]
ERRORS = (JobError, StrategyError, SelectionError, RosterError, ValueError)

STRATEGY_HELP = {
    "generate": "Each chosen model answers the prompt (its last, first or every user turn); finish reason and "
                "reasoning are kept.",
    "verify": "Objective prompts with a reference answer: a rule checks the answer (#### n, \\boxed{}, a number or "
              "a choice letter), else judge B decides whether it agrees with the reference.",
    "consistency": "Objective prompts without a reference: A and C answer, B judges whether they agree; "
                   "disagreement is a reject with its reason.",
    "pairwise": "Subjective prompts: per sample two of A, B, C answer and the third judges both orders (roles drawn "
                "with the seed); the winner is chosen, the loser rejected, a split verdict is a tie.",
    "rate": "UltraFeedback-style: the answers (new from A and C, or the existing ones) get 1-5 ratings from B, "
            "overall or per aspect; the best and a clearly lower one make a preference pair.",
    "polish": "COIG-Kun polishing: A rewrites the sample's existing answer so that it answers the instruction well.",
    "backtranslate": "Instruction backtranslation: A writes the instruction an output answers, then B (or A) "
                     "scores that instruction.",
    "rules": "Rule filters without models: repetition, refusals, self-identity, placeholders, empty turns, length.",
}
ROLE_HINTS: dict[str, dict[str, str]] = {
    "generate": {"A": "answers", "B": "also answers", "C": "also answers"},
    "verify": {"A": "answers", "B": "judges against the reference"},
    "consistency": {"A": "answers", "B": "judges agreement", "C": "answers"},
    "pairwise": {"A": "answers or judges", "B": "answers or judges", "C": "answers or judges"},
    "rate": {"A": "answers", "B": "rates the answers", "C": "also answers"},
    "polish": {"A": "rewrites the answer"},
    "backtranslate": {"A": "writes the instruction", "B": "scores it (else A does)"},
}
EXTRA_ROLES = {"generate": ("B", "C"), "rate": ("C",), "backtranslate": ("B",)}
"""Optional roles worth offering per strategy (when it generates new answers)."""
OPTION_LABELS = {
    "turn": ("Answer which user turn", "the last, the first, or every turn in sequence"),
    "answers": ("Answers to judge", "new answers from the models, or the candidates the samples already have"),
    "aspects": ("Rate", "overall, or the four UltraFeedback aspects (four judge calls per item)"),
    "margin": ("Preference margin", "the rejected answer is rated at least this much lower than the chosen one"),
    "score": ("Score the instruction", "good/bad (Kun), or 1-5 with a threshold (Humpback)"),
    "threshold": ("Keep at score", "with 1-5 scoring, keep instructions scored at least this"),
}


_launch_lock = threading.Lock()
_threads: dict[tuple[str, str], threading.Thread] = {}
"""The job threads this tab started, by database and job name: a double click (or two browsers) cannot run one job
twice, even before its thread has marked it running."""


def launch(studio: Studio, roster: Roster, name: str, *, retry_failed: bool = False) -> None:
    """Run a job in a background thread of the studio process, unless this process already runs it."""
    key = (str(studio.store.path), name)
    with _launch_lock:
        for finished in [known for known, thread in _threads.items() if not thread.is_alive()]:
            del _threads[finished]
        if key in _threads:
            raise JobError(f"job {name!r} is already running")
        _threads[key] = start_job_thread(studio.store, roster, name, retry_failed=retry_failed)


def _text(value: object) -> str:
    """Text shown as itself in Markdown or a toast: HTML escaped."""
    return html.escape(str(value))


def _code(value: object) -> str:
    """Text for a Markdown code span: backticks and line breaks replaced."""
    return str(value).replace("`", "'").replace("\n", " ")


def _role_field(role: str) -> str:
    return f"role_{role.lower()}"


FORM_FIELDS = ("source", "lang", "limit", "saved", "sample", "seed", "strategy",
               *(_role_field(role) for role in ROLE_NAMES), *OPTION_NAMES, "job_name")
"""The Synthesize form's inputs in the order the estimate and start handlers take them."""


def _option_default(name: str) -> Any:
    return next(cls.options[name][0] for cls in STRATEGIES.values() if name in cls.options)


def _option_choices(name: str) -> list[Any]:
    return list(next(cls.options[name] for cls in STRATEGIES.values() if name in cls.options))


def _whole(value: Any) -> int | None:
    """A whole number from a Number box, None when empty or zero."""
    if value is None or value == "":
        return None
    number = int(float(value))
    return number or None


@dataclass
class JobForm:
    """The Synthesize form's values: a selection, a strategy with its options, models by role and a job name."""

    source: str | None = None
    lang: str | None = None
    limit: int | None = None
    saved: str | None = None
    sample: int | None = None
    seed: int = 0
    strategy: str = "generate"
    roles: dict[str, str | None] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None

    @classmethod
    def from_values(cls, values: Sequence[Any]) -> JobForm:
        """Read the form from the input values in FORM_FIELDS order."""
        return cls.from_fields(dict(zip(FORM_FIELDS, values, strict=True)))

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> JobForm:
        """Read the form from its values by FORM_FIELDS name."""
        return cls(
            source=None if data["source"] in (None, "", ALL_SOURCES) else str(data["source"]),
            lang=None if data["lang"] in (None, "", ANY_LANG) else str(data["lang"]),
            limit=_whole(data["limit"]),
            saved=None if data["saved"] in (None, "", NO_SAVED) else str(data["saved"]),
            sample=_whole(data["sample"]),
            seed=_whole(data["seed"]) or 0,
            strategy=str(data["strategy"] or "generate"),
            roles={role: None if data[_role_field(role)] in (None, "", NOT_USED) else str(data[_role_field(role)])
                   for role in ROLE_NAMES},
            options={name: data[name] for name in OPTION_NAMES},
            name=(str(data["job_name"]).strip() or None) if data["job_name"] else None,
        )

    def selection(self) -> Selection:
        """Return the samples the form picks."""
        return Selection(source=self.source, lang=self.lang, limit=self.limit, sample=self.sample, seed=self.seed,
                         saved=self.saved)

    def params(self) -> dict[str, Any]:
        """Return the strategy's options from the form (empty number boxes keep the default)."""
        if self.strategy not in STRATEGIES:
            raise StrategyError(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}")
        options = STRATEGIES[self.strategy].options
        return {name: self.options[name] for name in options if self.options.get(name) not in (None, "")}

    def chosen_roles(self) -> dict[str, str]:
        """Return the models of the roles this strategy shows, or say which needed role has no model."""
        shown = shown_roles(self.strategy, self.params())
        missing = [role for role, required in shown.items() if required and not self.roles.get(role)]
        if missing:
            raise ValueError(f"pick a model for role {', '.join(missing)} (strategy {self.strategy})")
        return {role: model for role, model in self.roles.items() if role in shown and model}


def form_values(**fields: Any) -> list[Any]:
    """Return the form's input values in FORM_FIELDS order, defaults filled in (`role_a="sim-a"`, `turn="every"`)."""
    defaults: dict[str, Any] = {"source": ALL_SOURCES, "lang": ANY_LANG, "limit": None, "saved": NO_SAVED,
                                "sample": None, "seed": 0, "strategy": "generate", "job_name": ""}
    defaults |= {_role_field(role): NOT_USED for role in ROLE_NAMES}
    defaults |= {name: _option_default(name) for name in OPTION_NAMES}
    unknown = set(fields) - set(FORM_FIELDS)
    if unknown:
        raise TypeError(f"unknown form field(s): {', '.join(sorted(unknown))}")
    return [fields.get(name, defaults[name]) for name in FORM_FIELDS]


def shown_roles(strategy: str, params: Mapping[str, Any] | None = None) -> dict[str, bool]:
    """Return the roles among A, B, C the strategy uses with these options, each with whether it is required."""
    if strategy not in STRATEGIES:
        return {}
    try:
        built = make_strategy(strategy, dict(params or {}))
    except StrategyError:
        built = make_strategy(strategy, {})
    needed = built.roles_needed()
    extra = () if built.uses_existing else EXTRA_ROLES.get(strategy, ())
    return {role: role in needed for role in ROLE_NAMES if role in needed or role in extra}


def role_updates(strategy: str, params: Mapping[str, Any], current: Mapping[str, str | None],
                 models: Sequence[str]) -> list[Any]:
    """Return the A, B, C dropdown updates: shown or hidden, labelled, with the roster's models as choices."""
    shown = shown_roles(strategy, params)
    hints = ROLE_HINTS.get(strategy, {})
    updates = []
    for index, role in enumerate(ROLE_NAMES):
        required = shown.get(role, False)
        choices = list(models) if required else [NOT_USED, *models]
        value = current.get(role) or NOT_USED
        if value not in choices:
            value = (models[index] if index < len(models) else models[0]) if required and models else (
                None if required else NOT_USED)
        label = f"Role {role}" + (f": {hints[role]}" if role in hints else "") + ("" if required else " (optional)")
        updates.append(gr.update(choices=choices, value=value, visible=role in shown, label=label))
    return updates


def roster_note(state: RosterState) -> str:
    """Return a Markdown note on where the models come from, what is wrong with the roster file, and what to do."""
    lines = []
    if state.error and state.missing:
        lines.append(f"No roster file at `{_code(state.path)}` yet. Copy `data/models.example.toml` there and export "
                     "each model's key in the environment variable its `api_key_env` names (the Models tab shows "
                     "which are set), or add the offline simulator to try a job without any key.")
    elif state.error:
        lines.append(f"⚠️ The roster file `{_code(state.path)}` cannot be used: {_text(state.error)}")
    if state.simulated:
        lines.append(f"Offline simulator models {', '.join(f'`{n}`' for n in state.simulated)}: their answers are "
                     "simulated (fake text), not a model's.")
    if not state.roster.models:
        lines.append("No models to run a job with yet.")
    return "\n\n".join(lines) or f"{len(state.roster.models)} models from `{_code(state.path)}`."


def estimate_text(studio: Studio, form: JobForm) -> str:
    """Return the job's calls and tokens estimate as Markdown, or what is missing to make one."""
    state = studio_roster(studio.roster_path)
    try:
        estimate = estimate_job(studio.store, state.roster, strategy=form.strategy, roles=form.chosen_roles(),
                                params=form.params(), selection=form.selection())
    except ERRORS as exc:
        return f"Estimate: {_text(exc)}"
    notes = "".join(f"\n- {_text(note)}" for note in estimate.notes)
    return f"**Estimate:** {_text(estimate.summary())}{notes}"


def start(studio: Studio, form: JobForm, user: str) -> tuple[str, str | None]:
    """Create the job and run it in a background thread; return a status line and the job's name (None on error)."""
    state = studio_roster(studio.roster_path)
    try:
        job = create_job(studio.store, state.roster, strategy=form.strategy, roles=form.chosen_roles(),
                         params=form.params(), selection=form.selection(), seed=form.seed, name=form.name,
                         created_by=user)
    except ERRORS as exc:
        gr.Warning(_text(exc))
        return f"⚠️ Not started: {_text(exc)}", None
    try:
        launch(studio, state.roster, job.name)
    except ERRORS as exc:
        gr.Warning(_text(exc))
        return f"⚠️ Job `{_code(job.name)}` was created but did not start: {_text(exc)}; resume it.", job.name
    roles = ", ".join(f"{role}={model}" for role, model in job.roles.items())
    return f"Started `{_code(job.name)}`: {job.items:,} items, {_text(job.strategy)}, {_text(roles)}.", job.name


def resolve_job(studio: Studio, selected: str | None, jobs: Sequence[JobProgress] | None = None) -> JobProgress | None:
    """Return the job followed: the one named, else the newest running job, else the newest job (None if none)."""
    if selected and selected != LATEST:
        try:
            return job_progress(studio.store, selected)
        except JobError:
            return None
    jobs = recent_jobs(studio.store, HISTORY_LIMIT) if jobs is None else jobs
    return next((job for job in jobs if job.status in RUNNING), jobs[0] if jobs else None)


def cancel(studio: Studio, selected: str | None) -> str:
    """Ask the followed job to stop taking new items; return a status line."""
    job = resolve_job(studio, selected)
    if job is None:
        return "No job to cancel."
    if job.status not in (*RUNNING, "pending"):
        return f"`{_code(job.name)}` is {_text(job.status)}: nothing to cancel."
    progress = cancel_job(studio.store, job.name)
    return (f"Cancelling `{_code(progress.name)}`: finished items are kept, in-flight calls are dropped; "
            "resume it to finish the rest.")


def resume(studio: Studio, selected: str | None, retry_failed: bool) -> str:
    """Run the followed job's pending items again (and its failed ones when asked); return a status line."""
    job = resolve_job(studio, selected)
    if job is None:
        return "No job to resume."
    if job.status in RUNNING:
        return f"`{_code(job.name)}` is already running."
    if not job.pending and not (retry_failed and job.failed):
        extra = " (tick “retry failed items” to run its failures again)" if job.failed else ""
        return f"`{_code(job.name)}` has no pending items{extra}."
    state = studio_roster(studio.roster_path)
    try:
        launch(studio, state.roster, job.name, retry_failed=retry_failed)
    except ERRORS as exc:
        hint = " Add the offline simulator first (its models live only while the studio runs)." if any(
            str(model).startswith("sim-") and model not in state.roster.models for model in job.roles.values()) else ""
        gr.Warning(_text(exc))
        return f"⚠️ Not resumed: {_text(exc)}{hint}"
    todo = job.pending + (job.failed if retry_failed else 0)
    return f"Resumed `{_code(job.name)}`: {todo:,} items to go."


def progress_html(job: JobProgress | None, following_latest: bool = False) -> str:
    """Return the followed job's progress as HTML built from escaped text only, with a native progress bar."""
    if job is None:
        return '<div class="syn-progress" data-status="none"><p>No jobs yet: start one above.</p></div>'
    finished = job.finished
    percent = int(100 * finished / job.items) if job.items else 100
    attrs = {"job": job.name, "status": job.status, "done": job.done, "failed": job.failed, "items": job.items,
             "percent": percent}
    data = " ".join(f'data-{key}="{html.escape(str(value), quote=True)}"' for key, value in attrs.items())
    reasons = ", ".join(f"{reason or 'unknown'} {count:,}" for reason, count in job.reasons.items())
    roles = ", ".join(f"{role}={model}" for role, model in job.roles.items())
    following = " (following the latest job)" if following_latest else ""
    lines = [
        f"<p><strong>{_text(job.name)}</strong> · {_text(job.strategy)} · <span class=\"syn-status\">"
        f"{_text(job.status)}</span>{_text(following)}</p>",
        f'<progress max="{job.items}" value="{finished}" style="width:100%"></progress>',
        f"<p>{finished:,}/{job.items:,} items ({percent}%) · done {job.done:,} · failed {job.failed:,}"
        + (f" ({_text(reasons)})" if reasons else "") + f" · pending {job.pending:,}</p>",
        f"<p>roles {_text(roles) or '–'}</p>",
    ]
    return f'<div class="syn-progress" {data}>' + "".join(lines) + "</div>"


def history_rows(jobs: Sequence[JobProgress]) -> list[list[Any]]:
    """Return the jobs table rows (HISTORY_HEADERS)."""
    return [[job.name, job.strategy, job.status, job.items, job.done, job.failed,
             ", ".join(f"{reason or 'unknown'} {count}" for reason, count in job.reasons.items()),
             ", ".join(f"{role}={model}" for role, model in job.roles.items()),
             (job.created_at or "")[:19]] for job in jobs]


def watch(studio: Studio, selected: str | None, last: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """Return the progress view: job choices, progress HTML, history, timer, buttons and what was sent (changes
    only)."""
    last = dict(last or {})
    jobs = recent_jobs(studio.store, HISTORY_LIMIT)
    selected = selected or LATEST
    job = resolve_job(studio, selected, jobs)
    if job is None and selected != LATEST:  # the job followed is gone: follow the latest again
        selected, job = LATEST, resolve_job(studio, LATEST, jobs)
    names = [LATEST, *(j.name for j in jobs)]
    if job is None:
        selected = LATEST
    elif selected not in names:
        names.append(selected)
    rows = history_rows(jobs)
    running = job is not None and job.status in RUNNING
    tick = FAST_TICK if running else IDLE_TICK
    buttons = [job is not None and job.status in (*RUNNING, "pending"),
               job is not None and not running and bool(job.pending or job.failed)]
    sent = {"jobs": [selected, *names], "rows": rows, "tick": tick, "buttons": buttons}

    def changed(key: str, update: Any) -> Any:
        return update if sent[key] != last.get(key) else gr.update()

    return (
        changed("jobs", gr.update(choices=names, value=selected)),
        progress_html(job, selected == LATEST),
        changed("rows", rows),
        changed("tick", gr.Timer(tick, active=True)),
        changed("buttons", gr.update(interactive=buttons[0])),
        changed("buttons", gr.update(interactive=buttons[1])),
        sent,
    )


def choices(studio: Studio, strategy: str, params: Mapping[str, Any],
            current: Mapping[str, str | None]) -> tuple[Any, ...]:
    """Return the source and saved-selection choices, the role dropdowns and the roster note."""
    from blossom_studio.library import sources

    state = studio_roster(studio.roster_path)
    saved = [NO_SAVED, *(row["name"] for row in list_selections(studio.store))]
    return (gr.update(choices=[ALL_SOURCES, *sources(studio.store)]), gr.update(choices=saved),
            *role_updates(strategy, params, current, state.roster.names()), roster_note(state))


def build_synthesize_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Synthesize tab and wire its handlers to the synth library."""
    from gradio.context import Context

    tab = Context.block
    gr.Markdown("Run a strategy over a selection of samples with models from the roster. Progress is kept in the "
                "database: reload the page or open a second browser and the job is still there.")
    with gr.Accordion("1 · Samples", open=True), gr.Row():
        # Dropdowns whose choices come from the database or the roster accept any value, so that API callers
        # (whose session never received the updated choices) can pass one; the handlers validate it.
        dynamic = {"allow_custom_value": True}
        source = gr.Dropdown([ALL_SOURCES], value=ALL_SOURCES, label="Source", elem_id="syn-source", **dynamic)
        lang = gr.Radio([ANY_LANG, "zh", "en"], value=ANY_LANG, label="Language", elem_id="syn-lang")
        limit = gr.Number(None, label="Limit", info="at most N samples in import order (0: all)", precision=0,
                          minimum=0, elem_id="syn-limit")
        saved = gr.Dropdown([NO_SAVED], value=NO_SAVED, label="Saved selection", elem_id="syn-saved",
                            info="from Balance → Rebalance, or the CLI", **dynamic)
        sample = gr.Number(None, label="Random sample of N", precision=0, minimum=0, elem_id="syn-sample",
                           info="0: no sampling")
        seed = gr.Number(0, label="Seed", precision=0, elem_id="syn-seed", info="of the sample and the role draws")
    with gr.Accordion("2 · Strategy and models", open=True):
        with gr.Row():
            strategy = gr.Dropdown(list(STRATEGY_NAMES), value="generate", label="Strategy", elem_id="syn-strategy",
                                   scale=1)
            strategy_help = gr.Markdown(f"**generate**: {STRATEGY_HELP['generate']}", elem_id="syn-strategy-help")
        with gr.Row():
            role_boxes = [gr.Dropdown([NOT_USED], value=NOT_USED, label=f"Role {role}",
                                      elem_id=f"syn-role-{role.lower()}", visible=role in shown_roles("generate"),
                                      **dynamic) for role in ROLE_NAMES]
        with gr.Row():
            note = gr.Markdown(elem_id="syn-roster-note")
            add_simulator = gr.Button("Add the offline simulator (fake answers, no key)", size="sm", scale=0,
                                      elem_id="syn-add-simulator")
            refresh_models = gr.Button("↻ Models", size="sm", scale=0, elem_id="syn-refresh-models")
        with gr.Row():
            option_boxes = []
            for name in OPTION_NAMES:
                label, info = OPTION_LABELS.get(name, (name, None))
                default, visible = _option_default(name), name in STRATEGIES["generate"].options
                common = {"label": label, "info": info, "elem_id": f"syn-opt-{name}", "visible": visible}
                if isinstance(default, int | float) and not isinstance(default, bool):
                    option_boxes.append(gr.Number(default, precision=0 if isinstance(default, int) else None,
                                                  **common))
                else:
                    option_boxes.append(gr.Radio(_option_choices(name), value=default, **common))
        job_name = gr.Textbox(label="Job name", placeholder="empty: STRATEGY-DATE-TIME", elem_id="syn-job-name")
    with gr.Row():
        estimate_button = gr.Button("Estimate calls and tokens", elem_id="syn-estimate-button", scale=0)
        start_button = gr.Button("Start", variant="primary", elem_id="syn-start", scale=0)
    estimate = gr.Markdown(elem_id="syn-estimate")
    status = gr.Markdown(elem_id="syn-status")
    with gr.Accordion("3 · Progress", open=True):
        with gr.Row():
            job = gr.Dropdown([LATEST], value=LATEST, label="Job", elem_id="syn-job", scale=3, **dynamic)
            cancel_button = gr.Button("Cancel", variant="stop", elem_id="syn-cancel", scale=0, interactive=False)
            resume_button = gr.Button("Resume", elem_id="syn-resume", scale=0, interactive=False)
            retry_failed = gr.Checkbox(False, label="retry failed items", elem_id="syn-retry-failed", scale=0)
            refresh = gr.Button("↻", size="sm", elem_id="syn-refresh", scale=0)
        progress = gr.HTML(progress_html(None), elem_id="syn-progress")
        history = gr.Dataframe(headers=HISTORY_HEADERS, datatype=["str", "str", "str", "number", "number", "number",
                                                                   "str", "str", "str"],
                               interactive=False, wrap=True, max_height=420, label="Jobs", elem_id="syn-history")
    timer = gr.Timer(IDLE_TICK)
    sent = gr.State({})

    form_inputs = [source, lang, limit, saved, sample, seed, strategy, *role_boxes, *option_boxes, job_name]
    answers_box = option_boxes[OPTION_NAMES.index("answers")] if "answers" in OPTION_NAMES else None

    # Handlers name every input, so that gradio_client callers see named parameters (FORM_FIELDS).
    def choice_fields(fields: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, str | None]]:
        chosen = str(fields["strategy"])
        known = STRATEGIES[chosen].options if chosen in STRATEGIES else {}
        params = {name: fields[name] for name in OPTION_NAMES if name in known and fields[name] not in (None, "")}
        return chosen, params, {role: fields[_role_field(role)] for role in ROLE_NAMES}

    def on_choices(strategy: str, role_a: str, role_b: str, role_c: str, turn: str, answers: str, aspects: str,
                   margin: float | None, score: str, threshold: float | None) -> tuple[Any, ...]:
        return choices(studio, *choice_fields(locals()))

    def on_strategy(strategy: str, role_a: str, role_b: str, role_c: str, turn: str, answers: str, aspects: str,
                    margin: float | None, score: str, threshold: float | None) -> tuple[Any, ...]:
        chosen, params, roles = choice_fields(locals())
        known = STRATEGIES[chosen].options if chosen in STRATEGIES else {}
        models = studio_roster(studio.roster_path).roster.names()
        return (f"**{_text(chosen)}**: {_text(STRATEGY_HELP.get(chosen, ''))}",
                *role_updates(chosen, params, roles, models),
                *(gr.update(visible=name in known) for name in OPTION_NAMES))

    def on_add_simulator(strategy: str, role_a: str, role_b: str, role_c: str, turn: str, answers: str,
                         aspects: str, margin: float | None, score: str, threshold: float | None,
                         request: gr.Request) -> tuple[Any, ...]:
        studio.writer(request)
        fields = locals()
        start_simulator()
        return choices(studio, *choice_fields(fields))

    def on_estimate(source: str, lang: str, limit: float | None, saved: str, sample: float | None,
                    seed: float | None, strategy: str, role_a: str, role_b: str, role_c: str, turn: str,
                    answers: str, aspects: str, margin: float | None, score: str, threshold: float | None,
                    job_name: str) -> str:
        return estimate_text(studio, JobForm.from_fields(locals()))

    def on_start(source: str, lang: str, limit: float | None, saved: str, sample: float | None,
                 seed: float | None, strategy: str, role_a: str, role_b: str, role_c: str, turn: str,
                 answers: str, aspects: str, margin: float | None, score: str, threshold: float | None,
                 job_name: str, request: gr.Request) -> tuple[str, Any]:
        user = studio.writer(request)
        message, name = start(studio, JobForm.from_fields(locals()), user)
        return message, (gr.update(choices=[LATEST, name], value=name) if name else gr.update())

    def on_watch(selected: str, last: dict[str, Any]) -> tuple[Any, ...]:
        return watch(studio, selected, last)

    def on_cancel(selected: str, request: gr.Request) -> str:
        studio.writer(request)
        return cancel(studio, selected)

    def on_resume(selected: str, retry: bool, request: gr.Request) -> str:
        studio.writer(request)
        return resume(studio, selected, bool(retry))

    choice_inputs = [strategy, *role_boxes, *option_boxes]
    choice_outputs = [source, saved, *role_boxes, note]
    watch_outputs = [job, progress, history, timer, cancel_button, resume_button, sent]
    load_triggers = [demo.load, refresh_models.click]
    if isinstance(tab, gr.Tab):
        load_triggers.append(tab.select)
    gr.on(load_triggers, on_choices, choice_inputs, choice_outputs, api_name="synth_choices",
          show_progress="hidden")
    add_simulator.click(on_add_simulator, choice_inputs, choice_outputs, api_name="synth_add_simulator")
    strategy_triggers = [strategy.change] + ([answers_box.change] if answers_box is not None else [])
    gr.on(strategy_triggers, on_strategy, choice_inputs, [strategy_help, *role_boxes, *option_boxes],
          api_name=False, show_progress="hidden")
    estimate_triggers = [estimate_button.click, strategy.change, source.change, lang.change, saved.change,
                         *(box.change for box in role_boxes), *(box.change for box in option_boxes)]
    gr.on(estimate_triggers, on_estimate, form_inputs, estimate, api_name="estimate_job",
          trigger_mode="always_last", show_progress="hidden")
    gr.on([limit.submit, sample.submit, seed.submit], on_estimate, form_inputs, estimate, api_name=False,
          trigger_mode="always_last", show_progress="hidden")
    start_button.click(on_start, form_inputs, [status, job], api_name="start_job").then(
        on_watch, [job, sent], watch_outputs, api_name=False, show_progress="hidden")
    gr.on([demo.load, timer.tick, refresh.click, job.input], on_watch, [job, sent], watch_outputs,
          api_name="job_progress", show_progress="hidden")
    cancel_button.click(on_cancel, [job], status, api_name="cancel_job").then(
        on_watch, [job, sent], watch_outputs, api_name=False, show_progress="hidden")
    resume_button.click(on_resume, [job, retry_failed], status, api_name="resume_job").then(
        on_watch, [job, sent], watch_outputs, api_name=False, show_progress="hidden")
