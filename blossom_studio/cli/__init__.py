"""The command line: a thin front-end that parses arguments, calls the library and prints results."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn, TextIO

from blossom_studio import __version__, settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A problem with the user's input, printed as one line; exits with code 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit code 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every command."""
    from blossom_studio.ingest.layouts import FORMATS

    parser = _Parser(prog="python -m blossom_studio",
                                     description="Blossom Studio: curate Chinese and English fine-tuning data.")
    parser.add_argument("--version", action="version", version=f"blossom-studio {__version__}")
    parser.add_argument("--db", help=f"studio database file (default ${settings.DB_ENV} or data/studio.duckdb)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    importer = commands.add_parser("import", help="import JSON, JSONL, CSV/TSV or Parquet files (gzip too)")
    importer.add_argument("paths", nargs="+", metavar="PATH")
    importer.add_argument("--source", help="source name for every sample (default: the record's, else the file's)")
    importer.add_argument("--format", default="auto", choices=FORMATS, help="layout of the records (default auto)")
    importer.add_argument("--map", dest="mapping", metavar="KEY=FIELD,...",
                          help="map your fields: prompt=FIELD,response=FIELD,reference=FIELD (also system, "
                               "chosen, rejected, id, source)")
    importer.add_argument("--no-profile", dest="profile", action="store_false",
                          help="skip the language profile and word counts (run `profile` later, or let the studio "
                               "do it in the background)")
    importer.add_argument("--json", action="store_true", help="print the summary as JSON on the last line")

    stats = commands.add_parser("stats", help="count samples by source, format, turns, role or language")
    stats.add_argument("--by", default="source", help="comma-separated keys: source, format, turns, role, lang "
                                                      "(lang reads the language profile; unprofiled is 'pending')")
    stats.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")

    from blossom_studio.cli.synth import add_commands

    add_commands(commands)
    from blossom_studio.cli.selections import add_commands as add_selection_commands

    add_selection_commands(commands)
    from blossom_studio.cli.profile import add_commands as add_profile_commands

    add_profile_commands(commands)
    from blossom_studio.cli.export import add_commands as add_export_commands

    add_export_commands(commands)

    serve = commands.add_parser("serve", help="start the studio in the browser (what `python app.py` runs); "
                                              f"${settings.AUTH_ENV}=user:password,... makes it a shared studio")
    serve.add_argument("--db", default=argparse.SUPPRESS, help="studio database file")
    serve.add_argument("--host", default=None, help="interface to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 7860, or $PORT)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args = build_parser().parse_args(argv)
    human = sys.stderr if getattr(args, "json", False) else sys.stdout
    from blossom_studio.cli.export import cmd_export
    from blossom_studio.cli.profile import cmd_profile
    from blossom_studio.cli.selections import cmd_rebalance, cmd_selections
    from blossom_studio.cli.synth import cmd_jobs, cmd_synth, cmd_verdicts

    handlers = {"import": cmd_import, "stats": cmd_stats, "serve": cmd_serve, "synth": cmd_synth, "jobs": cmd_jobs,
                "verdicts": cmd_verdicts, "rebalance": cmd_rebalance, "selections": cmd_selections,
                "profile": cmd_profile, "export": cmd_export}
    try:
        return handlers[args.command](args, human)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # an internal error: one line, never a traceback, unless asked for
        if os.environ.get("BLOSSOM_STUDIO_DEBUG"):
            raise
        print(f"error: internal error ({type(exc).__name__}: {exc}); set BLOSSOM_STUDIO_DEBUG=1 for the traceback",
              file=sys.stderr)
        return EXIT_FAILED


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input or usage: printed as one line with exit code 2."""
    from blossom_studio.llm.roster import RosterError
    from blossom_studio.store import StoreError
    from blossom_studio.synth.jobs import JobError
    from blossom_studio.synth.selection import SelectionError
    from blossom_studio.synth.strategies import StrategyError

    return CommandError, StoreError, RosterError, JobError, SelectionError, StrategyError


def _open(args: argparse.Namespace):
    from blossom_studio.store import open_store

    return open_store(settings.db_path(args.db))


def _emit_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, default=str))


def cmd_import(args: argparse.Namespace, human: TextIO) -> int:
    """Import files and print one summary per file."""
    from blossom_studio.cli.profile import RESUME_HINT, run_profiling
    from blossom_studio.ingest import ImportCancelled, import_files
    from blossom_studio.ingest.layouts import parse_mapping

    try:
        mapping = parse_mapping(args.mapping) if args.mapping else None
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with _open(args) as store:
        bar = _ProgressBar()
        try:
            reports = import_files(store, args.paths, source=args.source, format_name=args.format,
                                   mapping=mapping, progress=bar.update)
        except (KeyboardInterrupt, ImportCancelled):
            bar.close()
            print("import cancelled: the file being read was rolled back; files before it were kept",
                  file=sys.stderr)
            return EXIT_FAILED
        bar.close()
        imported = any(report.imported for report in reports)
        profiled = run_profiling(store) if imported and args.profile else None
    if profiled is not None and profiled.cancelled:
        print(f"profiling interrupted; {RESUME_HINT}", file=sys.stderr)
    for report in reports:
        _print_report(report, human)
    if args.json:
        _emit_json([report.as_dict() for report in reports])
    valid = sum(report.imported + report.duplicates for report in reports)  # a re-import is no worse than the first
    problems = any(report.error or report.bad for report in reports)
    if problems and valid == 0:
        return EXIT_USAGE
    return EXIT_FAILED if problems else EXIT_OK


def _print_report(report: Any, out: TextIO) -> None:
    if report.error:
        print(f"{report.file}: {report.error.removeprefix(report.file + ': ')}", file=out)
        return
    print(f"{report.file}: {report.records} records ({report.format}, {report.file_type}): "
          f"{report.imported} imported, {report.duplicates} duplicates, {report.bad} bad", file=out)
    for error in report.errors[:10]:
        print(f"  {report.file}: {error['where']} {error['line']}: {error['reason']}", file=out)
    if report.bad > 10:
        print(f"  ... and {report.bad - 10} more bad records (see --json for the first 100)", file=out)


class _ProgressBar:
    """A tqdm byte bar on stderr, created on the first update so that tiny imports print nothing extra."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._total = 0

    def update(self, done: int, total: int) -> None:
        from tqdm import tqdm

        if self._bar is None or total != self._total:
            self.close()
            self._total = total
            self._bar = tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, leave=False,
                             disable=not sys.stderr.isatty(), desc="importing")
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def cmd_stats(args: argparse.Namespace, human: TextIO) -> int:
    """Print sample counts grouped by the requested keys."""
    from blossom_studio.stats import parse_group_keys, sample_stats

    try:
        keys = parse_group_keys(args.by)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    with _open(args) as store:
        rows = sample_stats(store, keys)
    _print_table(rows, human)
    pending = sum(row["samples"] for row in rows if "lang" in keys and row["lang"] == "pending")
    if pending:
        print(f"{pending:,} samples are not profiled yet: they show as lang 'pending'", file=human)
    if args.json:
        _emit_json(rows)
    return EXIT_OK


def _print_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        print("no samples yet: import some with `python -m blossom_studio import FILE`", file=out)
        return
    names = list(rows[0])
    cells = [[str(row[name]) for name in names] for row in rows]
    widths = [max(len(name), *(len(cell[i]) for cell in cells)) for i, name in enumerate(names)]
    print("  ".join(name.ljust(width) for name, width in zip(names, widths, strict=True)), file=out)
    for cell in cells:
        print("  ".join(value.ljust(width) for value, width in zip(cell, widths, strict=True)), file=out)


def cmd_serve(args: argparse.Namespace, human: TextIO) -> int:
    """Start the Gradio studio on the configured database."""
    from blossom_studio.ui.app import serve

    try:
        serve(settings.db_path(args.db), host=args.host, port=args.port)
    except settings.SettingsError as exc:  # a malformed BLOSSOM_STUDIO_AUTH: one line, exit code 2
        raise CommandError(str(exc)) from None
    return EXIT_OK
