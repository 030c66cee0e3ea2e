"""Runs a job's pending items on an asyncio loop, bounded by the models' limits, committing each item whole."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from blossom_studio.llm.cache import CallCache
from blossom_studio.llm.client import tls_context
from blossom_studio.llm.roster import ModelSpec, Roster
from blossom_studio.store import Store
from blossom_studio.synth.context import CallService, ItemContext
from blossom_studio.synth.items import CandidateView, ItemFailed, ItemOutcome, SampleView
from blossom_studio.synth.jobs import ACTIVE, JobError, JobProgress, find_job, job_progress, roster_for_job, set_status
from blossom_studio.synth.strategies import Strategy, make_strategy
from blossom_studio.synth.writer import ResultWriter

log = logging.getLogger(__name__)
PAGE = 1000
CANCEL_POLL_SECONDS = 0.1
START_SPACING = 0.002
"""Seconds between the starts of a job's workers: the first requests leave as a ramp (at most 500 a second, over
at most MAX_RAMP seconds), not as one burst. Endpoints throttle bursts, and answers that come back together wait
for each other in the event loop round after round; staggered, each is handled as it arrives."""
MAX_RAMP = 0.5
ProgressCallback = Callable[[ItemOutcome], None]
_CLAIM = threading.Lock()


def start_delays(workers: int) -> list[float]:
    """Return each worker's delay before its first item: START_SPACING apart, the whole ramp within MAX_RAMP."""
    spacing = min(START_SPACING, MAX_RAMP / max(1, workers))
    return [index * spacing for index in range(workers)]


def load_page(store: Store, job_id: str, after: int, limit: int = PAGE) -> list[tuple[int, SampleView]]:
    """Return up to `limit` pending items after position `after`, with their samples and earlier candidates."""
    rows = store.query(
        "SELECT j.position, s.id, s.source, s.messages, s.reference "
        "FROM job_items j JOIN samples s ON s.id = j.sample_id "
        "WHERE j.job_id = ? AND j.state = 'pending' AND j.position > ? ORDER BY j.position LIMIT ?",
        [job_id, after, limit],
    )
    ids = [row[1] for row in rows]
    candidates: dict[str, list[CandidateView]] = {}
    if ids:
        for sample_id, cid, model, label, message, origin in store.query(
            "SELECT sample_id, id, model, label, message, origin FROM candidates "
            "WHERE list_contains(?, sample_id) AND (job_id IS NULL OR job_id <> ?) ORDER BY sample_id, position",
            [ids, job_id],
        ):
            candidates.setdefault(sample_id, []).append(CandidateView(cid, model, label, orjson.loads(message), origin))
    return [
        (position, SampleView(sample_id, source, orjson.loads(messages), reference, candidates.get(sample_id, [])))
        for position, sample_id, source, messages, reference in rows
    ]


class JobRunner:
    """Works the pending items of one job until they are all finished or the job is cancelled; constructing one
    claims the job in this process until `run` ends (or `release` is called instead)."""

    def __init__(
        self,
        store: Store,
        roster: Roster,
        name_or_id: str,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        retry_failed: bool = False,
        templates_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.job = find_job(store, name_or_id)
        if self.job["status"] == "done" and not retry_failed:
            pending = store.query(
                "SELECT count(*) FROM job_items WHERE job_id = ? AND state = 'pending'", [self.job["id"]]
            )[0][0]
            if not pending:
                raise JobError(f"job {self.job['name']!r} is already finished")
        self.strategy: Strategy = make_strategy(self.job["strategy"], self.job["params"])
        self.roles: dict[str, ModelSpec] = roster_for_job(roster, self.job)
        for spec in self.roles.values():
            spec.api_key()
        tls_context()  # set up before the run, like a client: the first load of the CA store takes about 70 ms
        self.progress = progress
        self.cancel = cancel or threading.Event()
        self.retry_failed = retry_failed
        self.templates_dir = templates_dir
        self.calls: CallService | None = None
        with _CLAIM:  # claimed here, atomically, so that two quick starts of one job cannot both run it
            if self.job["id"] in ACTIVE:
                raise JobError(f"job {self.job['name']!r} is already running")
            ACTIVE[self.job["id"]] = self.cancel

    def release(self) -> None:
        """Give up the claim on a job that will not be run after all."""
        if ACTIVE.get(self.job["id"]) is self.cancel:
            ACTIVE.pop(self.job["id"], None)

    def run(self) -> JobProgress:
        """Run to the end (or until cancelled) and return the job's final progress."""
        job_id = self.job["id"]
        ACTIVE[job_id] = self.cancel
        try:
            writer = ResultWriter(self.store, job_id)
        except BaseException:
            ACTIVE.pop(job_id, None)
            raise
        try:
            if self.retry_failed:
                known = self.store.query("SELECT id FROM candidates WHERE job_id = ?", [job_id])
                writer.known_candidates.update(row[0] for row in known)
                with self.store.write() as cursor:
                    cursor.execute(
                        "UPDATE job_items SET state = 'pending' WHERE job_id = ? AND state = 'failed'", [job_id]
                    )
            set_status(self.store, job_id, "running", started=True)
            asyncio.run(self._main(writer))
        finally:
            try:
                writer.close()
            finally:
                ACTIVE.pop(job_id, None)
                pending = self.store.query(
                    "SELECT count(*) FROM job_items WHERE job_id = ? AND state = 'pending'", [job_id]
                )[0][0]
                final = "cancelled" if self.cancel.is_set() and pending else "done"
                set_status(self.store, job_id, final, finished=True)
                self.store.checkpoint()
        return job_progress(self.store, job_id)

    def _worker_count(self) -> int:
        models = {spec.name: spec.max_concurrency for spec in self.roles.values()}
        return max(16, min(8192, sum(models.values())))

    async def _main(self, writer: ResultWriter) -> None:
        # Long-lived workers, like a thread pool's threads: a worker that gets an answer starts its next item in the
        # same step of the event loop, so a new request leaves as soon as a slot frees.
        self.calls = CallService(CallCache(self.store), writer.put, self.job["id"])
        items: asyncio.Queue[tuple[int, SampleView] | None] = asyncio.Queue(maxsize=PAGE)
        workers = [
            asyncio.create_task(self._worker(items, writer, delay)) for delay in start_delays(self._worker_count())
        ]
        watcher = asyncio.create_task(self._watch_cancel(workers, items))
        try:
            after, limit = -1, min(PAGE, len(workers))  # a small first page, so that the first requests leave sooner
            while not self.cancel.is_set():
                # In a thread: DuckDB releases the GIL, so answers arriving meanwhile are handled without a stall.
                page = await asyncio.to_thread(load_page, self.store, self.job["id"], after, limit)
                limit = PAGE
                if not page:
                    break
                for item in page:
                    await items.put(item)
                    if self.cancel.is_set():
                        break
                after = page[-1][0]
            if not self.cancel.is_set():
                for _ in workers:
                    await items.put(None)
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            watcher.cancel()
            await self.calls.close()

    async def _worker(
        self, items: asyncio.Queue[tuple[int, SampleView] | None], writer: ResultWriter, start_after: float
    ) -> None:
        if start_after:
            await asyncio.sleep(start_after)
        while (item := await items.get()) is not None and not self.cancel.is_set():
            await self._work(*item, writer)

    async def _watch_cancel(self, workers: list[asyncio.Task[None]], items: asyncio.Queue) -> None:
        while not self.cancel.is_set():
            await asyncio.sleep(CANCEL_POLL_SECONDS)
        for worker in workers:
            worker.cancel()
        while not items.empty():  # unblocks the page loader, which then sees the cancel
            items.get_nowait()

    async def _work(self, position: int, sample: SampleView, writer: ResultWriter) -> None:
        assert self.calls is not None
        ctx = ItemContext(sample, self.job["id"], self.roles, self.calls, int(self.job["seed"]), self.templates_dir)
        outcome = ctx.outcome
        outcome.position = position
        try:
            await self.strategy.run(ctx)
        except ItemFailed as failure:
            outcome.state, outcome.reason, outcome.error = "failed", failure.reason, failure.message
        except Exception as exc:
            log.exception("item %s of job %s failed unexpectedly", sample.id, self.job["name"])
            outcome.state, outcome.reason, outcome.error = "failed", "internal_error", type(exc).__name__
        writer.put(outcome)
        if self.progress is not None:
            self.progress(outcome)


def run_job(store: Store, roster: Roster, name_or_id: str, **options: Any) -> JobProgress:
    """Run a job's pending items in this thread and return its final progress."""
    return JobRunner(store, roster, name_or_id, **options).run()


def start_job_thread(store: Store, roster: Roster, name_or_id: str, **options: Any) -> threading.Thread:
    """Run a job in a background thread (the UI's way); progress is read from the database."""
    runner = JobRunner(store, roster, name_or_id, **options)
    thread = threading.Thread(target=runner.run, name=f"job-{runner.job['name']}", daemon=True)
    thread.start()
    return thread
