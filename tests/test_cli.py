"""The command line as a contract: JSON on the last stdout line, exit codes, one-line usage errors, the DB env var."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

PROJECT = Path(__file__).resolve().parents[1]
SUMMARY_KEYS = {"file", "format", "records", "imported", "duplicates", "bad", "errors"}


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "BLOSSOM_STUDIO_DB"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "blossom_studio", *map(str, args)], cwd=PROJECT, env=environment,
                          capture_output=True, text=True, timeout=120)


def last_json(result: subprocess.CompletedProcess[str]) -> Any:
    lines = result.stdout.strip().splitlines()
    assert lines, f"no stdout; stderr: {result.stderr}"
    return json.loads(lines[-1])


def one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def write_jsonl(path: Path, *records: Any) -> Path:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    return path


def chat(prompt: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "good.jsonl", chat("你好，介绍一下你自己", "我是一个助手。"),
                       chat("What is 2+2?", "4"), {"question": "How many legs has a spider?", "answer": "8"})


@pytest.fixture
def partly_bad(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "partly_bad.jsonl", chat("good one", "yes"), {"messages": []},
                       {"messages": [{"role": "robot", "content": "beep"}]}, chat("good two", "yes"))


def test_import_json_summary_is_the_last_stdout_line(tmp_path: Path, partly_bad: Path) -> None:
    result = run("--db", tmp_path / "s.duckdb", "import", partly_bad, "--json")
    assert result.returncode == 1, "some rows were bad but something was imported"
    assert len(result.stdout.strip().splitlines()) == 1, "human text goes to stderr with --json"
    [summary] = last_json(result)
    assert set(summary) >= SUMMARY_KEYS
    assert summary["file"] == str(partly_bad)
    assert summary["format"] == "openai"
    assert (summary["records"], summary["imported"], summary["duplicates"], summary["bad"]) == (4, 2, 0, 2)
    assert [(error["line"], error["reason"]) for error in summary["errors"]] == [
        (2, "field 'messages': the conversation is empty"),
        (3, "field 'messages[0].role': unknown role 'robot'; expected one of assistant, developer, function, "
            "function_call, observation, system, tool, user"),
    ]
    assert "line 2: field 'messages': the conversation is empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_clean_import_exits_0_and_a_reimport_reports_duplicates(tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    first = run("--db", db, "import", good, "--json")
    assert first.returncode == 0, first.stderr
    [summary] = last_json(first)
    assert (summary["records"], summary["imported"], summary["duplicates"], summary["bad"]) == (3, 3, 0, 0)
    assert summary["errors"] == []

    again = run("--db", db, "import", good)
    assert again.returncode == 0, again.stderr
    assert "3 records" in again.stdout and "0 imported, 3 duplicates, 0 bad" in again.stdout
    again_json = run("--db", db, "import", good, "--json")
    [summary] = last_json(again_json)
    assert (summary["imported"], summary["duplicates"]) == (0, 3)
    stats = last_json(run("--db", db, "stats", "--json"))
    assert stats == [{"source": "good", "samples": 3, "with_reference": 1, "with_candidates": 0, "candidates": 0,
                      "user_turns": 3}]


def test_reimport_of_a_partly_bad_file_keeps_exit_code_1(tmp_path: Path, partly_bad: Path) -> None:
    """Nothing new, but the good rows are already there: the same answer as the first time, not 'nothing imported'."""
    db = tmp_path / "s.duckdb"
    assert run("--db", db, "import", partly_bad).returncode == 1
    again = run("--db", db, "import", partly_bad, "--json")
    assert again.returncode == 1
    [summary] = last_json(again)
    assert (summary["imported"], summary["duplicates"], summary["bad"]) == (0, 2, 2)


def test_missing_path_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = run("--db", tmp_path / "s.duckdb", "import", missing, "--json")
    assert result.returncode == 2
    assert f"{missing}: no such file" in result.stderr
    assert "Traceback" not in result.stderr
    [summary] = last_json(result)
    assert summary["imported"] == 0 and "no such file" in summary["error"]


def test_all_bad_file_exits_2_and_changes_nothing(tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert run("--db", db, "import", good).returncode == 0
    bad = write_jsonl(tmp_path / "bad.jsonl", {"messages": "nope"}, {"foo": 1})
    result = run("--db", db, "import", bad, "--json")
    assert result.returncode == 2
    [summary] = last_json(result)
    assert (summary["imported"], summary["bad"]) == (0, 2)
    assert summary["errors"][1]["reason"].startswith("unknown layout; the record has the keys [foo]")
    assert "--map prompt=FIELD" in summary["errors"][1]["reason"]
    with duckdb.connect(str(db), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM imports").fetchone()[0] == 1
        assert connection.execute("SELECT count(*) FROM samples").fetchone()[0] == 3


def test_directory_and_empty_file_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    (tmp_path / "sub").mkdir()
    result = run("--db", tmp_path / "s.duckdb", "import", tmp_path / "sub", empty, "--json")
    assert result.returncode == 2
    summaries = last_json(result)
    assert [s["file"] for s in summaries] == [str(tmp_path / "sub"), str(empty)]
    assert "is a directory" in summaries[0]["error"] and "the file is empty" in summaries[1]["error"]
    assert "Traceback" not in result.stderr


def test_a_folder_imports_the_data_files_below_it_one_summary_each(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    (folder / "data").mkdir(parents=True)
    for index in range(2):
        record = {"instruction": f"question {index}", "input": "", "output": f"answer {index}"}
        (folder / "data" / f"train-0000{index}-of-00002.jsonl").write_text(json.dumps(record) + "\n")
    (folder / "README.md").write_text("# card\n")
    result = run("--db", tmp_path / "s.duckdb", "import", folder, "--json")
    assert result.returncode == 0, result.stderr
    summaries = last_json(result)
    assert [Path(s["file"]).name for s in summaries] == ["train-00000-of-00002.jsonl", "train-00001-of-00002.jsonl"]
    assert [s["imported"] for s in summaries] == [1, 1]


def test_one_good_file_and_one_missing_path_exit_1(tmp_path: Path, good: Path) -> None:
    result = run("--db", tmp_path / "s.duckdb", "import", good, tmp_path / "missing.jsonl", "--json")
    assert result.returncode == 1
    summaries = last_json(result)
    assert [s["imported"] for s in summaries] == [3, 0]


@pytest.mark.parametrize(("args", "fragments"), [
    (["import", "{file}", "--format", "xml"], ["argument --format: invalid choice: 'xml'"]),
    (["import", "{file}", "--map", "prompt"], ["--map item 'prompt' is not KEY=FIELD"]),
    (["import", "{file}", "--map", "colour=q"], ["--map key 'colour' is unknown"]),
    (["import", "{file}", "--map", "response=a"], ["--map needs at least prompt=FIELD"]),
    (["stats", "--by", "colour"], ["unknown --by key(s) colour; use any of"]),
    (["stats", "--by", "source,nope", "--json"], ["unknown --by key(s) nope"]),
    (["import"], ["the following arguments are required: PATH"]),
    ([], ["the following arguments are required: COMMAND"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
], ids=["unknown-format", "map-no-equals", "map-unknown-key", "map-without-prompt", "unknown-by-key",
        "unknown-by-key-json", "import-without-path", "no-command", "unknown-command"])
def test_bad_usage_is_one_line_and_exit_2(args: list[str], fragments: list[str], tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = run("--db", db, *(arg.replace("{file}", str(good)) for arg in args))
    one_line_error(result, *fragments)
    assert result.stdout == ""
    assert not db.exists(), "bad usage must not create or touch the database"


def test_stats_by_source_and_by_format_and_role(tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    completions = write_jsonl(tmp_path / "pairs.jsonl", {
        "prompt": "Which is better?", "completions": [{"model": "a", "completion": "one"},
                                                      {"model": "b", "completion": "two"}]})
    assert run("--db", db, "import", good).returncode == 0
    assert run("--db", db, "import", completions, "--source", "judged").returncode == 0

    by_source = run("--db", db, "stats", "--by", "source", "--json")
    assert by_source.returncode == 0
    rows = last_json(by_source)
    assert [(row["source"], row["samples"]) for row in rows] == [("good", 3), ("judged", 1)]
    assert rows[1]["candidates"] == 2

    by_format_role = last_json(run("--db", db, "stats", "--by", "format,role", "--json"))
    assert all({"format", "role", "samples"} <= set(row) for row in by_format_role)
    counts = {(row["format"], row["role"]): row["samples"] for row in by_format_role}
    assert counts == {("completions", "candidate"): 1, ("completions", "user"): 1, ("openai", "assistant"): 2,
                      ("openai", "user"): 2, ("prompt", "user"): 1}

    human = run("--db", db, "stats", "--by", "source")
    assert human.returncode == 0 and human.stdout.splitlines()[0].split()[:2] == ["source", "samples"]


def test_stats_on_an_empty_database(tmp_path: Path) -> None:
    result = run("--db", tmp_path / "s.duckdb", "stats", "--json")
    assert result.returncode == 0
    assert last_json(result) == []
    assert "no samples yet" in result.stderr


def test_the_environment_variable_selects_the_database(tmp_path: Path, good: Path) -> None:
    from_env = tmp_path / "from_env.duckdb"
    env = {"BLOSSOM_STUDIO_DB": str(from_env)}
    assert run("import", good, env=env).returncode == 0
    assert from_env.exists()
    assert last_json(run("stats", "--json", env=env))[0]["samples"] == 3
    explicit = tmp_path / "explicit.duckdb"
    assert last_json(run("--db", explicit, "stats", "--json", env=env)) == [], "--db wins over the variable"
    assert explicit.exists()


def test_a_database_held_by_another_process_is_one_line(tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    assert run("--db", db, "import", good).returncode == 0
    holder = duckdb.connect(str(db))
    try:
        result = run("--db", db, "import", good, "--json")
    finally:
        holder.close()
    one_line_error(result, "is open in another process", "use another file with --db")
    assert result.stdout == ""


def test_source_option_names_every_sample(tmp_path: Path, good: Path) -> None:
    db = tmp_path / "s.duckdb"
    result = run("--db", db, "import", good, "--source", "my-set", "--json")
    assert result.returncode == 0
    assert [(row["source"], row["samples"]) for row in last_json(run("--db", db, "stats", "--json"))] == [
        ("my-set", 3)]
