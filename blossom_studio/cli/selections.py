"""The `rebalance` and `selections` commands: preview (and save) a language-balanced selection, list saved ones."""

from __future__ import annotations

import argparse
from typing import Any, TextIO


def add_commands(commands: Any) -> None:
    """Register the selection commands on the CLI's sub-parser collection."""
    rebalance = commands.add_parser(
        "rebalance", help="preview a selection with a language ratio and a size, stratified by source; --save keeps it")
    rebalance.add_argument("--ratio", required=True, metavar="zh:en=1:1",
                           help="language weights: zh:en=1:1, zh:en=2:1 or zh=1,en=1 (zh, en, mixed, other, code, "
                                "unknown)")
    rebalance.add_argument("--size", type=int, required=True, metavar="N", help="samples wanted in all")
    rebalance.add_argument("--source", action="append", metavar="NAME",
                           help="only samples of this source (repeat for several)")
    rebalance.add_argument("--seed", type=int, default=0, help="seed of the pick inside each language and source")
    rebalance.add_argument("--fill", action="store_true",
                           help="when a language is short, top up to --size with the others (the ratio gives way); "
                                "by default every language is scaled down to keep the ratio")
    rebalance.add_argument("--save", metavar="NAME", help="save the selection under NAME (for synth --selection)")
    rebalance.add_argument("--overwrite", action="store_true", help="with --save, replace a selection of that name")
    rebalance.add_argument("--json", action="store_true", help="print the plan as JSON on the last line")

    selections = commands.add_parser("selections", help="list the saved selections")
    selections.add_argument("--json", action="store_true", help="print the selections as JSON on the last line")


def cmd_rebalance(args: argparse.Namespace, human: TextIO) -> int:
    """Print the rebalance preview (available and selected per language and source, shortfall); save with --save."""
    from blossom_studio.cli import EXIT_OK, CommandError, _emit_json, _open
    from blossom_studio.selections import parse_ratio, plan_rebalance, save_selection

    if args.overwrite and not args.save:
        raise CommandError("--overwrite goes with --save NAME")
    ratio = parse_ratio(args.ratio)
    with _open(args) as store:
        plan = plan_rebalance(store, ratio, args.size, seed=args.seed, sources=args.source, fill=args.fill)
        if args.save:
            save_selection(store, args.save, plan, overwrite=args.overwrite)
    _print_plan(plan, human)
    if args.save:
        print(f"saved as {args.save!r} ({len(plan.ids)} samples); use it with `synth --selection {args.save}`",
              file=human)
    else:
        print("preview only: add --save NAME to keep it", file=human)
    if args.json:
        _emit_json({**plan.as_dict(), "saved": args.save})
    return EXIT_OK


def cmd_selections(args: argparse.Namespace, human: TextIO) -> int:
    """List the saved selections, newest first."""
    from blossom_studio.cli import EXIT_OK, _emit_json, _open
    from blossom_studio.selections import list_selections

    with _open(args) as store:
        rows = list_selections(store)
    if not rows:
        print("no saved selections yet: `rebalance --ratio zh:en=1:1 --size N --save NAME` makes one", file=human)
    for row in rows:
        print(f"{row['name']}: {row['samples']} samples, {_describe(row['spec'])}, created {row['created_at']}"
              f"{' by ' + row['created_by'] if row['created_by'] else ''}", file=human)
    if args.json:
        _emit_json(rows)
    return EXIT_OK


def _ratio_text(ratio: dict[str, float]) -> str:
    return f"{':'.join(ratio)}={':'.join(f'{weight:g}' for weight in ratio.values())}"


def _describe(spec: dict[str, Any]) -> str:
    if spec.get("kind") == "rebalance":
        sources = f", sources {', '.join(spec['sources'])}" if spec.get("sources") else ""
        return f"ratio {_ratio_text(spec['ratio'])}, size {spec['size']}, seed {spec['seed']}{sources}"
    return ", ".join(f"{key} {value}" for key, value in spec.items()) or "no spec"


def _print_plan(plan: Any, out: TextIO) -> None:
    header = ("lang", "source", "available", "selected")
    cells = [tuple(str(row[key]) for key in header) for row in plan.counts]
    widths = [max([len(name), *(len(cell[i]) for cell in cells)]) for i, name in enumerate(header)]
    for line in (header, *cells):
        print("  ".join(value.rjust(width) if i > 1 else value.ljust(width)
                        for i, (value, width) in enumerate(zip(line, widths, strict=True))), file=out)
    targets, ratio = plan.spec["targets"], _ratio_text(plan.spec["ratio"])
    totals = plan.totals()
    print("total: " + ", ".join(f"{lang} {n} of {targets[lang]}" for lang, n in totals.items())
          + f" ({len(plan.ids)} of {plan.spec['size']} samples, ratio {ratio})", file=out)
    for lang, short in plan.shortfall.items():
        print(f"short: {lang} has {targets[lang] - short} profiled samples for a target of {targets[lang]}", file=out)
    if plan.shortfall and not plan.spec["fill"]:
        print(f"to keep {ratio} the selection has {len(plan.ids)} samples, not {plan.spec['size']}; --fill tops up "
              "to --size with the languages that have more (the ratio gives way)", file=out)
    if plan.spec["unprofiled"]:
        print(f"{plan.spec['unprofiled']} samples are not profiled yet and were left out", file=out)
