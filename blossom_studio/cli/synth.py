"""The `synth`, `jobs` and `verdicts` commands: start or resume a synthesis job, list jobs, list verdicts."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, TextIO

from blossom_studio import settings


def add_commands(commands: Any) -> None:
    """Register the synthesis commands on the CLI's sub-parser collection."""
    synth = commands.add_parser("synth", help="run a strategy with a roster of models over selected samples")
    synth.add_argument("--models", metavar="FILE",
                       help=f"roster TOML (default ${settings.ROSTER_ENV} or data/models.toml)")
    synth.add_argument("--strategy", help="generate, verify, consistency, pairwise, rate, polish, backtranslate, rules")
    synth.add_argument("--roles", default="", metavar="A=MODEL,...",
                       help="roster models by role, e.g. A=deepseek,B=qwen")
    synth.add_argument("--set", dest="options", default="", metavar="KEY=VALUE,...",
                       help="strategy options, e.g. turn=every, answers=existing, aspects=all")
    synth.add_argument("--source", help="only samples of this source")
    synth.add_argument("--lang", choices=("zh", "en"), help="only Chinese or English samples")
    synth.add_argument("--selection", help="a saved selection by name")
    synth.add_argument("--limit", type=int, help="at most N samples (in import order)")
    synth.add_argument("--sample", type=int, help="a random sample of N (seeded by --seed)")
    synth.add_argument("--seed", type=int, default=0, help="seed of the random sample and the role draws (default 0)")
    synth.add_argument("--job", help="name of the new job (default STRATEGY-DATE-TIME)")
    synth.add_argument("--resume", metavar="NAME", help="finish the pending items of an earlier job")
    synth.add_argument("--retry-failed", action="store_true", help="with --resume, also retry the failed items")
    synth.add_argument("--json", action="store_true", help="print the job's final counts as JSON on the last line")

    jobs = commands.add_parser("jobs", help="list synthesis jobs with their counts")
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON on the last line")

    verdicts = commands.add_parser("verdicts", help="list the verdicts of judges and rules")
    verdicts.add_argument("--job", help="only the verdicts of this job")
    verdicts.add_argument("--limit", type=int, help="at most N verdicts")
    verdicts.add_argument("--json", action="store_true", help="print the verdicts as JSON on the last line")


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """Parse "K=V,K=V" into a dict, or raise CommandError saying which part is wrong."""
    from blossom_studio.cli import CommandError

    pairs: dict[str, str] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise CommandError(f"{what} takes KEY=VALUE pairs separated by commas; {part!r} is not one")
        pairs[key.strip()] = value.strip()
    return pairs


def cmd_synth(args: argparse.Namespace, human: TextIO) -> int:
    """Create (or resume) a job, run it with a progress bar, and report its counts; Ctrl-C leaves it resumable."""
    from blossom_studio.cli import EXIT_FAILED, EXIT_OK, CommandError, _emit_json, _open
    from blossom_studio.llm.roster import load_roster
    from blossom_studio.synth.jobs import create_job, job_progress
    from blossom_studio.synth.selection import Selection

    if not args.resume and not args.strategy:
        raise CommandError("synth needs --strategy NAME (or --resume NAME to finish an earlier job)")
    if args.retry_failed and not args.resume:
        raise CommandError("--retry-failed goes with --resume NAME")
    roster = load_roster(settings.roster_path(args.models))
    with _open(args) as store:
        if args.resume:
            name = args.resume
            job_progress(store, name)
        else:
            selection = Selection(source=args.source, lang=args.lang, limit=args.limit, sample=args.sample,
                                  seed=args.seed, saved=args.selection)
            job = create_job(store, roster, strategy=args.strategy, roles=parse_pairs(args.roles, "--roles"),
                             params=parse_pairs(args.options, "--set"), selection=selection, seed=args.seed,
                             name=args.job)
            name = job.name
            print(f"job {name}: {job.items} items, strategy {job.strategy}", file=human)
        progress = _run_with_bar(store, roster, name, args.retry_failed)
    _print_progress(progress.as_dict(), human)
    if progress.pending:
        print(f"the job stopped with {progress.pending} items pending; finish it with --resume {name}", file=sys.stderr)
    elif progress.failed:
        print(f"{progress.failed} items failed (reasons above); retry them with --resume {name} --retry-failed",
              file=sys.stderr)
    if args.json:
        _emit_json(progress.as_dict())
    return EXIT_OK if progress.failed == 0 and progress.pending == 0 else EXIT_FAILED


def _run_with_bar(store: Any, roster: Any, name: str, retry_failed: bool) -> Any:
    from tqdm import tqdm

    from blossom_studio.synth.jobs import job_progress
    from blossom_studio.synth.runner import JobRunner

    cancel = threading.Event()
    before = job_progress(store, name)
    todo = before.pending + (before.failed if retry_failed else 0)
    bar = tqdm(total=todo, unit="item", file=sys.stderr, disable=not sys.stderr.isatty(), desc=name)
    failed = [0]

    def advance(outcome: Any) -> None:
        failed[0] += outcome.state == "failed"
        bar.update(1)
        if failed[0]:
            bar.set_postfix(failed=failed[0], refresh=False)

    runner = JobRunner(store, roster, name, progress=advance, cancel=cancel, retry_failed=retry_failed)
    result: dict[str, Any] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            result["progress"] = runner.run()
        except BaseException as exc:
            errors.append(exc)

    def interrupt(signum: int, frame: object) -> None:
        if cancel.is_set():
            print("still cancelling: waiting for the last results to be written", file=sys.stderr)
            return
        print("\ncancelling: finished items are kept; in-flight calls are dropped", file=sys.stderr)
        cancel.set()

    # Ctrl-C sets the cancel flag instead of raising in the middle of a join or a database call.
    previous = signal.signal(signal.SIGINT, interrupt)
    thread = threading.Thread(target=work, name=f"synth-{name}")
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    finally:
        signal.signal(signal.SIGINT, previous)
        bar.close()
    if errors:
        raise errors[0]
    return result["progress"]


def _print_progress(row: dict[str, Any], out: TextIO) -> None:
    reasons = ", ".join(f"{reason} {count}" for reason, count in row["failure_reasons"].items())
    print(f"{row['name']} ({row['strategy']}): {row['status']}; {row['items']} items, {row['done']} done, "
          f"{row['failed']} failed{f' ({reasons})' if reasons else ''}, {row['pending']} pending", file=out)


def cmd_jobs(args: argparse.Namespace, human: TextIO) -> int:
    """List the jobs with their counts."""
    from blossom_studio.cli import EXIT_OK, _emit_json, _open
    from blossom_studio.synth.jobs import list_jobs

    with _open(args) as store:
        rows = [job.as_dict() for job in list_jobs(store)]
    if not rows:
        print("no jobs yet: start one with `python -m blossom_studio synth --models FILE --strategy NAME`", file=human)
    for row in rows:
        _print_progress(row, human)
    if args.json:
        _emit_json(rows)
    return EXIT_OK


def cmd_verdicts(args: argparse.Namespace, human: TextIO) -> int:
    """List verdicts (all, or one job's) with a count by kind, judge and parse status."""
    from blossom_studio.cli import EXIT_OK, CommandError, _emit_json, _open
    from blossom_studio.synth.verdicts import list_verdicts, verdict_counts

    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")
    with _open(args) as store:
        rows = list_verdicts(store, args.job, args.limit)
        counts = verdict_counts(store, args.job)
    for count in counts:
        print(f"{count['verdicts']:>8}  {count['kind']:<12} {count['judge']:<20} {count['parse_status']}", file=human)
    if not counts:
        print("no verdicts yet", file=human)
    if args.json:
        _emit_json(rows)
    return EXIT_OK
