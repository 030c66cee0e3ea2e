"""The Models tab: the roster as a table (never a key), its file and load errors, connection tests, the simulator.

Element ids (for browser tests): `models-file` (where the roster comes from, and what is wrong with it),
`models-table`, `models-refresh`, `models-test-model`, `models-test`, `models-test-results`, `models-add-simulator`,
`models-simulator-status`, `models-help`.

API names (gradio_client): `models_roster`, `test_connection`, `add_simulator`. Testing connections (it spends the
keys' quota) and adding the simulator check the user on the server, like every writing handler.
"""

from __future__ import annotations

import html
import os
from typing import Any

import gradio as gr
import orjson

from blossom_studio.llm.connection import ConnectionResult, check_connections
from blossom_studio.llm.simulator import (
    SIM_MODELS,
    RosterState,
    running_simulator,
    start_simulator,
    studio_roster,
)
from blossom_studio.ui.studio import Studio

ALL_MODELS = "(all models)"
ROSTER_HEADERS = ["name", "from", "base_url", "model", "api_key_env", "key set", "max_concurrency", "rpm", "params"]
TEST_HEADERS = ["name", "ok", "latency ms", "detail"]
HELP = """**Adding models.** The roster is a TOML file of OpenAI-compatible endpoints (OpenAI, DeepSeek, Qwen,
Gemini's OpenAI endpoint, vLLM, Ollama, llama.cpp server):

```toml
[models.deepseek]
base_url = "https://api.deepseek.com/v1"
model = "deepseek-chat"
api_key_env = "DEEPSEEK_API_KEY"   # the variable's NAME; the key itself never goes in the file
max_concurrency = 32
rpm = 600                          # optional
[models.deepseek.params]           # passed to chat.completions.create
temperature = 0.7
max_tokens = 2048
```

Copy `data/models.example.toml` to the roster path above (or point `BLOSSOM_STUDIO_MODELS` at your file), export each
key (`export DEEPSEEK_API_KEY=...`) before starting the studio, then press ↻. A local server without keys needs no
`api_key_env`."""


def _text(value: object) -> str:
    """Text shown as itself in Markdown: HTML escaped."""
    return html.escape(str(value))


def _code(value: object) -> str:
    """Text for a Markdown code span: backticks and line breaks replaced."""
    return str(value).replace("`", "'").replace("\n", " ")


def key_status(env: str | None) -> str:
    """Return whether a model's key variable is set ("yes", "NOT SET", or "not needed"), never its value."""
    if not env:
        return "not needed"
    return "yes" if os.environ.get(env) else "NOT SET"


def roster_rows(state: RosterState) -> list[list[Any]]:
    """Return one table row per model: where it is, its key variable and whether it is set, limits and params."""
    rows = []
    for name, spec in state.roster.models.items():
        public = spec.public()
        rows.append([name, "simulator" if name in state.simulated else "file", public["base_url"], public["model"],
                     public["api_key_env"] or "", key_status(spec.api_key_env), public["max_concurrency"],
                     "" if public["rpm"] is None else public["rpm"],
                     orjson.dumps(public["params"], option=orjson.OPT_SORT_KEYS).decode() if public["params"] else ""])
    return rows


def file_note(state: RosterState) -> str:
    """Return a Markdown note on the roster file: its path, how many models it gave, or why it could not be read."""
    path = f"`{_code(state.path)}`"
    if state.missing:
        text = (f"No roster file at {path} yet: no models from a file. See “Adding models” below, or add the "
                "offline simulator to try a job without any key.")
    elif state.error:
        text = f"⚠️ The roster file {path} cannot be used:\n\n> {_text(state.error)}"
    else:
        count = len(state.file_models)
        text = f"Roster file {path}: {count} model{'s' if count != 1 else ''}."
    if state.shadowed:
        text += (f"\n\nThe file already names {', '.join(f'`{_code(n)}`' for n in state.shadowed)}: those file "
                 "models are used, not the simulator's.")
    return text


def simulator_note() -> str:
    """Return a Markdown line on the offline simulator: running where, with which models, or how to start it."""
    simulator = running_simulator()
    if simulator is None:
        return (f"The offline simulator is not running. It answers like an OpenAI-compatible endpoint with **fake "
                f"answers** (not a model's), so you can try every strategy without a key; it adds "
                f"{', '.join(f'`{name}`' for name in SIM_MODELS)} to the roster for as long as the studio runs.")
    return (f"Offline simulator running at `{_code(simulator.base_url)}` with models "
            f"{', '.join(f'`{_code(name)}`' for name in simulator.models)}: **fake answers**, not a model's. "
            "They are added in memory, not to the roster file (the port changes at every start).")


def roster_view(studio: Studio) -> tuple[Any, ...]:
    """Return the file note, the roster table, the test model choices, the simulator note and whether to open help."""
    state = studio_roster(studio.roster_path)
    names = [ALL_MODELS, *state.roster.names()]
    return (file_note(state), roster_rows(state), gr.update(choices=names), simulator_note(),
            gr.update(open=state.missing or bool(state.error) or not state.roster.models))


def result_rows(results: list[ConnectionResult]) -> list[list[Any]]:
    """Return one table row per connection test."""
    return [[result.name, "yes" if result.ok else "no", "" if result.latency_ms is None else result.latency_ms,
             result.detail] for result in results]


def run_connection_tests(studio: Studio, model: str | None) -> list[list[Any]]:
    """Test one model (or all) with a one-token call and return the result rows."""
    roster = studio_roster(studio.roster_path).roster
    if model and model != ALL_MODELS:
        if model not in roster.models:
            return [[model, "no", "", "no model of that name in the roster (press ↻ to reload it)"]]
        specs = [roster.models[model]]
    else:
        specs = list(roster.models.values())
    if not specs:
        return [["", "no", "", "no models to test: add some to the roster file, or add the offline simulator"]]
    return result_rows(check_connections(specs))


def build_models_tab(demo: gr.Blocks, studio: Studio) -> None:
    """Lay out the Models tab and wire its handlers to the roster, the connection test and the simulator."""
    from gradio.context import Context

    tab = Context.block
    with gr.Row():
        file_status = gr.Markdown(elem_id="models-file")
        refresh = gr.Button("↻ Reload the roster", size="sm", scale=0, elem_id="models-refresh")
    table = gr.Dataframe(headers=ROSTER_HEADERS, datatype="str", interactive=False, wrap=True, max_height=420,
                         label="Models (keys are never shown: only whether their variable is set)",
                         elem_id="models-table")
    with gr.Row():
        test_model = gr.Dropdown([ALL_MODELS], value=ALL_MODELS, label="Test the connection of", scale=3,
                                 elem_id="models-test-model", allow_custom_value=True)  # API callers name any model
        test_button = gr.Button("Test (one call of at most one token)", scale=1, elem_id="models-test")
    results = gr.Dataframe(headers=TEST_HEADERS, datatype="str", interactive=False, wrap=True, max_height=320,
                           label="Connection tests", elem_id="models-test-results")
    with gr.Group():
        simulator_status = gr.Markdown(simulator_note(), elem_id="models-simulator-status")
        add_simulator = gr.Button("Add the offline simulator (fake answers)", elem_id="models-add-simulator")
    with gr.Accordion("Adding models", open=False) as help_box:
        gr.Markdown(HELP, elem_id="models-help")

    def on_view() -> tuple[Any, ...]:
        return roster_view(studio)

    def on_test(model: str, request: gr.Request) -> list[list[Any]]:
        studio.writer(request)
        return run_connection_tests(studio, model)

    def on_add_simulator(request: gr.Request) -> tuple[Any, ...]:
        studio.writer(request)
        start_simulator()
        return roster_view(studio)

    view_outputs = [file_status, table, test_model, simulator_status, help_box]
    triggers = [demo.load, refresh.click]
    if isinstance(tab, gr.Tab):
        triggers.append(tab.select)
    gr.on(triggers, on_view, None, view_outputs, api_name="models_roster", show_progress="hidden")
    test_button.click(on_test, test_model, results, api_name="test_connection")
    add_simulator.click(on_add_simulator, None, view_outputs, api_name="add_simulator")
