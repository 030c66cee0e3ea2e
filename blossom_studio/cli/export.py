"""The `export` command: write a curated set (SFT or preference) with its manifest and card, optionally to the Hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO


def add_commands(commands: Any) -> None:
    """Add the `export` command to the parser's subcommands."""
    from blossom_studio.export import FILE_TYPES, FORMATS, INCLUDABLE

    export = commands.add_parser(
        "export", help="write the samples whose effective verdict keeps them, with a manifest and a dataset card")
    export.add_argument("--format", required=True, choices=FORMATS,
                        help="blossom, openai, sharegpt or alpaca (SFT), or preference (chosen/rejected pairs)")
    export.add_argument("--to", required=True, metavar="FOLDER",
                        help="the dataset folder to write: data/train.<type> (and data/test.<type>), manifest.json "
                             "and README.md (a Hugging Face dataset card)")
    export.add_argument("--type", dest="file_type", default="jsonl", choices=FILE_TYPES, help="file type (jsonl)")
    export.add_argument("--source", action="append", default=[], metavar="NAME",
                        help="only samples of this source (repeat for several)")
    export.add_argument("--lang", help="only samples in this language (zh, en, mixed, other, code, unknown)")
    export.add_argument("--selection", metavar="NAME", help="only the samples of a saved selection")
    export.add_argument("--include", default="", metavar="WHAT,...",
                        help=f"also export what is left out by default: {', '.join(INCLUDABLE)}")
    export.add_argument("--judged-only", action="store_true",
                        help="leave out samples without a judge verdict or a review decision")
    export.add_argument("--balance", metavar="RATIO", help="a language ratio such as zh:en=1:1 (largest set that "
                                                           "keeps it, within --limit)")
    export.add_argument("--limit", type=int, help="at most this many records (a seeded random pick)")
    export.add_argument("--no-dedupe", dest="dedupe", action="store_false",
                        help="keep samples whose exported messages are identical")
    export.add_argument("--test-size", type=float, default=0.0, metavar="N",
                        help="a seeded test split: a fraction (0.05) or a number of records (500)")
    export.add_argument("--seed", type=int, default=0, help="seed of the limit, balance and split picks (0)")
    export.add_argument("--bom", action="store_true", help="start CSV files with a UTF-8 BOM (Excel shows Chinese)")
    export.add_argument("--license", default="other", help="license id for the dataset card (other)")
    export.add_argument("--name", help="title of the dataset card (default: the folder's name)")
    export.add_argument("--overwrite", action="store_true", help="replace an earlier export in the folder")
    export.add_argument("--dry-run", action="store_true", help="print the counts and the first records; write "
                                                                 "nothing")
    export.add_argument("--push-to-hub", metavar="OWNER/NAME",
                        help="upload the folder to this Hugging Face dataset repository ($HF_TOKEN)")
    export.add_argument("--public", action="store_true", help="create the Hub repository as public (private)")
    export.add_argument("--json", action="store_true", help="print the manifest as JSON on the last line")


def _request(args: argparse.Namespace) -> Any:
    from blossom_studio.cli import CommandError
    from blossom_studio.export import ExportRequest
    from blossom_studio.selections import parse_ratio
    from blossom_studio.synth.selection import SelectionError

    try:
        balance = parse_ratio(args.balance) if args.balance else None
    except SelectionError as exc:
        raise CommandError(str(exc)) from None
    include = tuple(part.strip() for part in args.include.split(",") if part.strip())
    return ExportRequest(format=args.format, file_type=args.file_type, sources=tuple(args.source), lang=args.lang,
                         selection=args.selection, include=include, judged_only=args.judged_only, balance=balance,
                         limit=args.limit, dedupe=args.dedupe, test_size=args.test_size, seed=args.seed,
                         bom=args.bom, license=args.license, name=args.name)


def cmd_export(args: argparse.Namespace, human: TextIO) -> int:
    """Export the curated set and print what was written and what was left out."""
    from blossom_studio.cli import EXIT_FAILED, EXIT_OK, CommandError, _emit_json, _open
    from blossom_studio.export import (
        ExportError,
        HubError,
        check_push,
        check_target,
        prepare_export,
        push_to_hub,
        record_push,
        resolve_target,
        write_export,
    )

    request = _request(args)
    try:
        request.check()
        folder = resolve_target(args.to, None)
        if args.push_to_hub:
            check_push(args.push_to_hub)
        if not args.dry_run:
            check_target(folder, args.overwrite)
        with _open(args) as store, prepare_export(store, request) as plan:
            _print_counts(plan.counts, human)
            if args.dry_run:
                for record in plan.preview():
                    print(_one_line(record), file=human)
                if args.json:
                    _emit_json({"dry_run": True, "counts": plan.counts, "preview": plan.preview()})
                return EXIT_OK
            result = write_export(store, plan, folder, overwrite=args.overwrite,
                                  progress=lambda message: print(message, file=sys.stderr))
            shown = _shown(folder)
            for file in result.manifest["files"]:
                print(f"wrote {shown}/{file['path']}: {file['rows']:,} rows, sha256 {file['sha256'][:16]}…",
                      file=human)
            print(f"wrote {shown}/manifest.json and {shown}/README.md", file=human)
            output: dict[str, Any] = {"folder": str(folder), "manifest": result.manifest}
            if args.push_to_hub:
                try:
                    output["hub"] = push_to_hub(folder, args.push_to_hub, private=not args.public)
                except HubError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    if args.json:
                        _emit_json({**output, "hub_error": str(exc)})
                    return EXIT_FAILED
                record_push(store, result.id, args.push_to_hub)
                print(f"pushed to {output['hub']}", file=human)
    except (ExportError, HubError) as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        _emit_json(output)
    return EXIT_OK


def _shown(folder: Path) -> str:
    """Return the folder relative to the working directory when it lies inside it, else absolute."""
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)


def _print_counts(counts: dict[str, Any], out: TextIO) -> None:
    splits = ", ".join(f"{split} {n:,}" for split, n in counts["splits"].items())
    langs = ", ".join(f"{lang} {n:,}" for lang, n in counts["by_lang"].items())
    print(f"{counts['rows']:,} of {counts['selected']:,} selected samples go out ({splits}; {langs})", file=out)
    if counts["left_out"]:
        print("left out: " + ", ".join(f"{reason} {n:,}" for reason, n in counts["left_out"].items()), file=out)
    if counts["human_decisions"]:
        print(f"decided by a person: {counts['human_decisions']:,} (overriding the judge: {counts['overrides']:,})",
              file=out)


def _one_line(record: dict[str, Any]) -> str:
    import json

    text = json.dumps(record, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"
