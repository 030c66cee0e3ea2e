"""The dataset card: a Hugging Face README.md with a YAML header and the manifest's facts in prose and tables."""

from __future__ import annotations

from typing import Any

import yaml

from blossom_studio.export.query import REASON_HELP

FIELDS = {
    "blossom": "`id`, `type` (\"chat\"), `metadata` (with `source`), `messages` (a list of `{role, content}`; "
               "`reasoning_content` kept where a model gave one)",
    "openai": "`messages` (a list of `{role, content}`, the OpenAI fine-tuning layout)",
    "sharegpt": "`id`, `conversations` (a list of `{from, value}`; from is system, human, gpt or observation)",
    "alpaca": "`instruction`, `input`, `output`, `system`, `history` (earlier `[instruction, answer]` pairs)",
    "preference": "`id`, `source`, `prompt` (the last user turn), `chosen` and `rejected` (whole conversations: "
                  "the prompt then the answer), `chosen_rating`, `rejected_rating` (the judge's mean 1-5 rating, "
                  "or the imported one), `chosen_model`, `rejected_model`, `judge`, `margin` (empty where a person "
                  "chose), `decided_by` (judge, human or import)",
}
LANGUAGE_CODES = {"zh": ["zh"], "en": ["en"], "mixed": ["zh", "en"]}


def size_category(rows: int) -> str:
    """Return the Hugging Face size category of a dataset with `rows` records."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    return next((label for bound, label in bounds if rows < bound), "n>1T")


def card_header(manifest: dict[str, Any]) -> dict[str, Any]:
    """Return the YAML header of the card: license, languages, task, tags, size and the data files per split."""
    languages = sorted({code for lang in manifest["counts"]["by_lang"] for code in LANGUAGE_CODES.get(lang, [])})
    preference = manifest["format"] == "preference"
    return {
        "license": manifest["request"].get("license", "other"),
        "language": languages or ["zh", "en"],
        "task_categories": ["text-generation"],
        "tags": ["blossom-studio", *(["preference", "dpo"] if preference else ["sft"])],
        "size_categories": [size_category(manifest["counts"]["rows"])],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": f["split"], "path": f["path"]} for f in manifest["files"]]}],
    }


def _table(title: str, counts: dict[str, int]) -> list[str]:
    if not counts:
        return []
    lines = [f"| {title} | rows |", "|---|---:|"]
    lines += [f"| {key} | {value:,} |" for key, value in counts.items()]
    return [*lines, ""]


def render_card(manifest: dict[str, Any]) -> str:
    """Return the dataset card (README.md) for an export's manifest."""
    counts, request = manifest["counts"], manifest["request"]
    header = yaml.safe_dump(card_header(manifest), allow_unicode=True, sort_keys=False)
    name = request.get("name") or manifest["name"]
    lines = [
        "---", header.rstrip(), "---", "", f"# {name}", "",
        f"{counts['rows']:,} {'preference pairs' if manifest['format'] == 'preference' else 'conversations'} in "
        f"the **{manifest['format']}** layout ({manifest['file_type']}), curated with Blossom Studio "
        f"{manifest['tool']['version']} on {manifest['created_at'][:10]}.", "",
        "## Files", "", "| split | file | rows | sha256 |", "|---|---|---:|---|",
        *[f"| {f['split']} | `{f['path']}` | {f['rows']:,} | `{f['sha256']}` |" for f in manifest["files"]], "",
        f"Fields: {FIELDS[manifest['format']]}.", "",
        "## Contents", "",
        *_table("language", counts["by_lang"]),
        *_table("source", counts["by_source"]),
        "## How the samples were chosen", "",
        "Each sample goes out with its effective verdict: the latest review decision by a person, else the latest "
        "judge verdict. Judge outputs that could not be parsed never count as a score.", "",
        *_table("effective verdict", counts["by_verdict"]),
        f"- Decided by a person: {counts['human_decisions']:,} (overriding the judge: {counts['overrides']:,})",
        f"- Judge models: {', '.join(f'`{judge}`' for judge in counts['judges']) or 'none'}",
        f"- Jobs: {_jobs_text(counts['jobs'])}",
        f"- Request: `{_request_text(request)}`", "",
    ]
    if counts["left_out"]:
        lines += ["Left out:", "", "| reason | samples | meaning |", "|---|---:|---|"]
        lines += [f"| {reason} | {n:,} | {REASON_HELP[reason]} |" for reason, n in counts["left_out"].items()]
        lines.append("")
    if counts.get("unprofiled"):
        lines += [f"{counts['unprofiled']:,} samples had no language profile yet; their language was guessed from "
                  "the share of Han characters.", ""]
    lines += ["`manifest.json` holds the same facts as data.", ""]
    return "\n".join(lines)


def _jobs_text(jobs: list[dict[str, str]]) -> str:
    return ", ".join(f"`{job['name']}` ({job['strategy']})" for job in jobs) or "none"


def _request_text(request: dict[str, Any]) -> str:
    skip = {"license", "name", "extra"}
    parts = []
    for key, value in request.items():
        if key in skip:
            continue
        if key == "balance":
            value = f"{':'.join(value)}={':'.join(f'{weight:g}' for weight in value.values())}"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        parts.append(f"{key}={value}")
    return ", ".join(parts)
