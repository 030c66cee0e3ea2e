"""The offline simulator as studio models: started in this process on 127.0.0.1 at a free port, added in memory.

The simulator (`blossom_studio.testing.fake_openai`) answers like an OpenAI-compatible endpoint with fake,
deterministic text, so that a newcomer can run a job without any key. `start_simulator` serves it from a background
thread and names its models `sim-a`, `sim-b` and `sim-c` (three distinct models, so pairwise has two respondents and
a judge); `studio_roster` returns the roster file's models followed by the running simulator's.

The simulator's models are added in memory, not written into the roster file, because:

- its port is new at every start, so a stored `base_url` would point at a dead port after the studio restarts;
- the roster file is the user's own (hand-edited, commented, perhaps in version control), and the CLI reads it in
  another process where no simulator runs; a special marker resolved at load would tie the CLI's roster to this
  process's state.

So the simulator lives as long as the studio process. A job that used `sim-*` models can be resumed after a restart
once the simulator is added again (same model names); its cached calls were keyed by the old port and are simply
asked again, at no cost. A roster file model that already has one of these names keeps it, and the simulator model
of that name is left out.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from blossom_studio.llm.roster import ModelSpec, Roster, RosterError, load_roster, parse_model, with_models
from blossom_studio.testing.fake_openai import FakeConfig, FakeOpenAIServer

SIM_MODELS = ("sim-a", "sim-b", "sim-c")
SIM_LATENCY = 0.5
"""Seconds per simulated answer in the studio: long enough to watch a small job's progress, short enough to finish."""
SIM_JITTER = 0.25
SIM_CONCURRENCY = 4
SIM_MAX_TOKENS = 512

_lock = threading.Lock()
_running: Simulator | None = None


@dataclass(frozen=True)
class Simulator:
    """A running offline simulator and the roster models that point at it."""

    server: FakeOpenAIServer
    models: dict[str, ModelSpec]

    @property
    def base_url(self) -> str:
        """The simulator's OpenAI-compatible base URL (http://127.0.0.1:PORT/v1)."""
        return self.server.base_url


def simulator_models(base_url: str, names: tuple[str, ...] = SIM_MODELS) -> dict[str, ModelSpec]:
    """Return roster models for the simulator at `base_url`, each named like the simulated model it calls."""
    table = {"base_url": base_url, "max_concurrency": SIM_CONCURRENCY, "timeout": 30.0, "max_retries": 2,
             "params": {"temperature": 0.7, "max_tokens": SIM_MAX_TOKENS}}
    return {name: parse_model(name, {**table, "model": name}) for name in names}


def start_simulator(*, latency: float = SIM_LATENCY, jitter: float = SIM_JITTER) -> Simulator:
    """Start the simulator in a background thread on a free port of 127.0.0.1, or return the one already running."""
    global _running
    with _lock:
        if _running is not None:
            return _running
        config = FakeConfig(latency=latency, jitter=min(jitter, latency), models=SIM_MODELS)
        server = FakeOpenAIServer(config, port=0).start()
        if not server.port:
            server.stop()
            raise RuntimeError("the offline simulator did not start within 10 s")
        _running = Simulator(server, simulator_models(server.base_url))
        return _running


def running_simulator() -> Simulator | None:
    """Return the simulator running in this process, if any."""
    return _running


def stop_simulator() -> None:
    """Stop the simulator of this process (its models leave the studio roster)."""
    global _running
    with _lock:
        simulator, _running = _running, None
    if simulator is not None:
        simulator.server.stop()


@dataclass(frozen=True)
class RosterState:
    """The models the studio can use now: the roster file's (or why it could not be read) and the simulator's."""

    roster: Roster
    path: Path
    error: str | None = None
    missing: bool = False
    simulated: tuple[str, ...] = ()
    shadowed: tuple[str, ...] = field(default=())

    @property
    def file_models(self) -> list[str]:
        """The names of the models read from the roster file."""
        return [name for name in self.roster.names() if name not in self.simulated]


def studio_roster(path: Path) -> RosterState:
    """Load the roster file (a missing or invalid file gives an empty roster and the reason) plus the simulator."""
    error: str | None = None
    missing = not path.exists()
    try:
        roster = load_roster(path)
    except RosterError as exc:
        roster, error = Roster({}, path), str(exc)
    simulator = _running
    if simulator is None:
        return RosterState(roster, path, error, missing)
    shadowed = tuple(name for name in simulator.models if name in roster.models)
    simulated = tuple(name for name in simulator.models if name not in roster.models)
    return RosterState(with_models(roster, simulator.models), path, error, missing, simulated, shadowed)
