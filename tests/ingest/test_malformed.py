"""Bad input: each malformed file is reported with positions and reasons; fatal ones change nothing."""

from __future__ import annotations

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from blossom_studio import cli
from blossom_studio.ingest import ImportCancelled, import_files
from blossom_studio.ingest import importer as importer_module
from blossom_studio.store import Store

PROJECT = Path(__file__).resolve().parents[2]
BOM = b"\xef\xbb\xbf"
FIFTY_MB = 50 * 1024 * 1024


def line(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode() + b"\n"


def chat(prompt: str, answer: str = "an answer") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}


def jsonl(*records: Any) -> bytes:
    return b"".join(line(record) for record in records)


def compact(record: Any) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


GOOD_1, GOOD_2, GOOD_3 = chat("first good prompt"), chat("second good prompt"), chat("third good prompt")


def gzip_without_trailer() -> bytes:
    """A gzip file whose last 4 bytes (the length) are cut off: all 3000 lines decompress, then the stream ends."""
    return gzip.compress(jsonl(*({"question": f"question {i}"} for i in range(3000))))[:-4]


def parquet_bytes(rows: int = 3000, group: int = 1000) -> bytes:
    table = pa.table({"prompt": [f"prompt {i}" for i in range(rows)], "response": [f"answer {i}" for i in range(rows)]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=group, compression="none")
    return buffer.getvalue()


def parquet_damaged_row_group() -> bytes:
    """Three row groups of 1000 rows; the page header of the second group's first column is overwritten."""
    data = bytearray(parquet_bytes())
    offset = pq.ParquetFile(io.BytesIO(bytes(data))).metadata.row_group(1).column(0).data_page_offset
    data[offset:offset + 16] = b"\xff" * 16
    return bytes(data)


def parquet_damaged_footer() -> bytes:
    data = bytearray(parquet_bytes())
    data[-40:-8] = b"\xff" * 32  # the footer's metadata; the length and the PAR1 magic stay
    return bytes(data)


def fifty_mb_line(valid: bool) -> bytes:
    text = "汉字 and English " * (FIFTY_MB // 18)  # 19 bytes each
    record = compact(chat(text, "short answer"))
    assert len(record) > FIFTY_MB
    if not valid:  # one invalid UTF-8 byte near the end of the 50 MB line
        record = record[:-30] + b"\xff" + record[-29:]
    return line(GOOD_1) + record + b"\n" + line(GOOD_2)


Builder = Callable[[Path], Path]


def content(data: bytes | Callable[[], bytes], name: str = "input.jsonl") -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data() if callable(data) else data)
        return path
    return build


def a_directory_without_data(folder: Path) -> Path:
    path = folder / "a_folder"
    (path / ".hidden").mkdir(parents=True)
    (path / "README.md").write_text("# not data\n")
    (path / ".hidden" / "inside.jsonl").write_bytes(line(GOOD_1))
    return path


def missing(folder: Path) -> Path:
    return folder / "no_such_file.jsonl"


@dataclass(frozen=True)
class Case:
    """One malformed input and what the importer must say about it."""

    id: str
    build: Builder
    fatal: bool  # nothing in the file is valid: the DB must not change at all
    errors: tuple[tuple[int, str], ...] = ()  # (line or index, substring of its reason), in file order
    error: str | None = None  # substring of the whole-file error, when the file cannot be read at all
    records: int = 0
    imported: int = 0
    format_name: str = "auto"
    mapping: dict[str, str] | None = None


CASES = [
    # --- encodings -------------------------------------------------------------------------------------------
    Case("jsonl-invalid-utf8-line", content(line(GOOD_1) + b'{"messages":[{"role":"user","content":"caf\xe9"}]}\n'
                                            + line(GOOD_2)),
         fatal=False, records=3, imported=2, errors=((2, "not valid UTF-8 (byte 0xe9 at column"),)),
    Case("jsonl-invalid-utf8-first-line", content(b'{"question":"\xff\xfe"}\n' + jsonl({"question": "a"},
                                                                                      {"question": "b"})),
         fatal=False, records=3, imported=2, errors=((1, "not valid UTF-8 (byte 0xff"),)),
    Case("csv-invalid-utf8-cell", content(b"prompt,response\nhello,world\nbad \xff cell,x\nthird,row\n", "t.csv"),
         fatal=False, records=3, imported=2, errors=((3, "field 'prompt': not valid UTF-8"),)),
    Case("csv-latin1-header", content("préfixe,response\nhello,world\n".encode("latin-1"), "t.csv"),
         fatal=True, error="the CSV header is not valid UTF-8 (column 1)"),
    Case("utf16-file", content("\ufeff".encode("utf-16-le") + line(GOOD_1).decode().encode("utf-16-le")),
         fatal=True, error="UTF-16 or UTF-32 encoded; save it as UTF-8"),
    Case("bom-jsonl-imports", content(BOM + jsonl(GOOD_1, GOOD_2)), fatal=False, records=2, imported=2),
    Case("bom-json-array-imports", content(BOM + compact([GOOD_1, GOOD_2]), "t.json"),
         fatal=False, records=2, imported=2),
    Case("bom-csv-imports", content(BOM + b"prompt,response\nhello,world\n", "t.csv"),
         fatal=False, records=1, imported=1),
    # --- empty files -----------------------------------------------------------------------------------------
    Case("empty-file", content(b""), fatal=True, error="the file is empty"),
    Case("whitespace-only", content(b"  \t \n   \n\t"), fatal=True, error="the file is empty (no records)"),
    Case("blank-lines-only", content(b"\n\n\r\n\n"), fatal=True, error="the file is empty (no records)"),
    Case("empty-json-array", content(b"[ ]\n", "t.json"), fatal=True, error="holds no records (an empty list)"),
    Case("csv-header-only", content(b"prompt,response\n", "t.csv"), fatal=True, error="a header but no rows"),
    # --- damaged JSON ----------------------------------------------------------------------------------------
    Case("json-array-truncated", content(b"[" + compact(GOOD_1) + b",\n" + compact(GOOD_2)
                                         + b',\n{"messages": [{"role": "user", "content": "cut he', "t.json"),
         fatal=False, records=3, imported=2, errors=((2, "truncated JSON: the file ends inside this element"),)),
    Case("json-array-truncated-after-comma", content(b"[" + compact(GOOD_1) + b",", "t.json"),
         fatal=False, records=2, imported=1, errors=((1, "truncated JSON: the file ends before the closing ']'"),)),
    Case("json-array-invalid-element", content(b"[" + compact(GOOD_1) + b',\n{"messages": oops},\n'
                                               + compact(GOOD_2) + b"]", "t.json"),
         fatal=False, records=2, imported=1, errors=((1, "invalid JSON at line 2 column 14"),)),
    Case("json-array-missing-comma", content(b"[" + compact(GOOD_1) + b"\n" + compact(GOOD_2) + b"]", "t.json"),
         fatal=False, records=2, imported=1, errors=((1, "expected ',' or ']'"),)),
    Case("json-array-trailing-garbage", content(b"[" + compact(GOOD_1) + b"," + compact(GOOD_2) + b"]\nnot json",
                                                "t.json"),
         fatal=False, records=3, imported=2, errors=((2, "unexpected content after the end of the JSON document at "
                                                          "line 2 column 1"),)),
    Case("json-array-of-non-objects", content(b'[1, "two", null, [3], ' + compact(GOOD_1) + b"]", "t.json"),
         fatal=False, records=5, imported=1, errors=((0, "expected a JSON object, got number"),
                                                     (1, "expected a JSON object, got string"),
                                                     (2, "expected a JSON object, got null"),
                                                     (3, "expected a JSON object, got array"))),
    Case("json-array-nan", content(b'[{"question": NaN}, {"question": "fine"}]', "t.json"),
         fatal=False, records=2, imported=1, errors=((0, "NaN is not valid JSON"),)),
    Case("json-array-lone-surrogate", content(b'[{"question": "\\ud800 alone"}, {"question": "fine"}]', "t.json"),
         fatal=False, records=2, imported=1, errors=((0, "without its pair"),)),
    Case("json-array-nested-too-deep", content(b'[{"question": "fine"}, {"x": ' + b"[" * 3000 + b"]" * 3000 + b"}]",
                                               "t.json"),
         fatal=False, records=2, imported=1, errors=((1, "nested too deeply"),)),
    Case("json-document-number", content(b"42\n", "t.json"), fatal=True,
         error="the file is a single JSON number, not a record or a list of records"),
    Case("json-document-string", content(b'"just a string"', "t.json"), fatal=True,
         error="a single JSON string"),
    Case("json-document-null", content(b"null"), fatal=True, error="a single JSON null"),
    Case("jsonl-truncated-last-line", content(jsonl(GOOD_1, GOOD_2) + b'{"messages": [{"role": "us'),
         fatal=False, records=3, imported=2, errors=((3, "truncated JSON (unexpected end of data"),)),
    Case("jsonl-lines-of-other-json-types", content(line(GOOD_1) + b"[1, 2]\n42\n\"a string\"\nnull\n"
                                                    + line(GOOD_2)),
         fatal=False, records=6, imported=2, errors=((2, "expected a JSON object, got array"),
                                                     (3, "expected a JSON object, got number"),
                                                     (4, "expected a JSON object, got string"),
                                                     (5, "expected a JSON object, got null"))),
    Case("jsonl-first-line-a-number", content(b"42\n" + jsonl(GOOD_1, GOOD_2)),
         fatal=False, records=3, imported=2, errors=((1, "expected a JSON object, got number"),)),
    Case("jsonl-trailing-garbage", content(line(GOOD_1) + compact(GOOD_2) + b" trailing words\n" + line(GOOD_3)),
         fatal=False, records=3, imported=2, errors=((2, "invalid JSON (unexpected content after document"),)),
    Case("jsonl-nan", content(b'{"question": NaN}\n'), fatal=True, records=1,
         errors=((1, "invalid JSON (unexpected character"),)),
    Case("jsonl-nested-too-deep", content(b'{"x": ' + b"[" * 3000 + b"]" * 3000 + b"}\n"), fatal=True, records=1,
         errors=((1, "invalid JSON (depth limit exceeded"),)),
    Case("binary-garbage", content(bytes(range(256)) * 64, "t.bin"), fatal=True, error="binary content"),
    # --- wrong types and missing fields ----------------------------------------------------------------------
    Case("messages-is-a-string", content(jsonl({"messages": "hello there"})), fatal=True, records=1,
         errors=((1, "field 'messages': expected a list of messages, got string"),)),
    Case("messages-is-null", content(jsonl({"messages": None})), fatal=True, records=1,
         errors=((1, "field 'messages': expected a list of messages, got null"),)),
    Case("message-is-null", content(jsonl({"messages": [None]})), fatal=True, records=1,
         errors=((1, "field 'messages[0]': expected a message object, got null"),)),
    Case("content-is-boolean", content(jsonl({"messages": [{"role": "user", "content": True}]})), fatal=True,
         records=1, errors=((1, "field 'messages[0].content': expected a string or a list of content parts, "
                                "got boolean"),)),
    Case("content-is-object", content(jsonl(GOOD_1, {"messages": [{"role": "user", "content": {"a": 1}}]})),
         fatal=False, records=2, imported=1, errors=((2, "field 'messages[0].content': expected a string or a list "
                                                          "of content parts, got object"),)),
    Case("role-is-a-number", content(jsonl({"messages": [{"role": 1, "content": "hi"}]})), fatal=True, records=1,
         errors=((1, "field 'messages[0].role': missing or not a string (got number)"),)),
    Case("question-is-a-list", content(jsonl({"question": ["a", "b"]})), fatal=True, records=1,
         errors=((1, "field 'question': expected a string, got array"),)),
    Case("missing-messages", content(jsonl({"type": "chat", "metadata": {"source": "x"}})), fatal=True, records=1,
         errors=((1, "unknown layout; the record has the keys [type, metadata]"),)),
    Case("missing-messages-forced-openai", content(jsonl(GOOD_1, {"id": 7, "text_field": "x"})), fatal=False,
         records=2, imported=1, format_name="openai",
         errors=((2, "the record is not in the openai layout (it has the keys [id, text_field])"),)),
    Case("empty-messages-list", content(jsonl({"messages": []})), fatal=True, records=1,
         errors=((1, "field 'messages': the conversation is empty"),)),
    Case("message-without-role", content(jsonl({"messages": [{"content": "hi"}]})), fatal=True, records=1,
         errors=((1, "field 'messages[0].role': missing"),)),
    Case("message-without-content", content(jsonl({"messages": [{"role": "user"}]})), fatal=True, records=1,
         errors=((1, "field 'messages[0].content': missing"),)),
    Case("unknown-role", content(jsonl(GOOD_1, {"messages": [{"role": "robot", "content": "beep"}]}, GOOD_2)),
         fatal=False, records=3, imported=2, errors=((2, "field 'messages[0].role': unknown role 'robot'"),)),
    Case("unknown-sharegpt-speaker", content(jsonl({"conversations": [{"from": "alien", "value": "hi"}]})),
         fatal=True, records=1, errors=((1, "field 'conversations[0].from': unknown speaker 'alien'"),)),
    Case("all-contents-empty", content(jsonl({"messages": [{"role": "user", "content": ""},
                                                           {"role": "assistant", "content": "  \n"}]})),
         fatal=True, records=1, errors=((1, "field 'messages': every message is empty"),)),
    Case("empty-prompt", content(jsonl({"question": "   "})), fatal=True, records=1,
         errors=((1, "field 'question': the prompt is empty"),)),
    Case("alpaca-output-is-an-object", content(jsonl({"instruction": "do it", "input": "", "output": {"a": 1}})),
         fatal=True, records=1, errors=((1, "field 'output': expected a string, got object"),)),
    Case("preference-only-chosen", content(jsonl({"prompt": "p", "chosen": "c"})), fatal=True, records=1,
         errors=((1, "field 'rejected': missing; a preference pair needs both chosen and rejected"),)),
    Case("preference-only-chosen-forced", content(jsonl({"prompt": "p", "chosen": "c"})), fatal=True, records=1,
         format_name="preference", errors=((1, "field 'rejected': missing"),)),
    Case("preference-forced-on-a-prompt", content(jsonl({"question": "q"})), fatal=True, records=1,
         format_name="preference", errors=((1, "not in the preference layout (it has the keys [question])"),)),
    Case("preference-output-three-answers", content(jsonl({"prompt": "p", "output": ["a", "b", "c"]})), fatal=True,
         records=1, errors=((1, "field 'output': expected [chosen, rejected], got 3 answers"),)),
    Case("preference-chosen-is-a-number", content(jsonl({"prompt": "p", "chosen": 5, "rejected": "r"})),
         fatal=True, records=1, errors=((1, "field 'chosen': expected a string, an answer object or a message "
                                            "list, got number"),)),
    Case("hh-transcript-not-ending-in-assistant",
         content(jsonl({"chosen": "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: and?",
                        "rejected": "\n\nHuman: hi\n\nAssistant: go away"})),
         fatal=True, records=1, errors=((1, "field 'chosen': the transcript does not end with an Assistant turn"),)),
    Case("completions-empty-list", content(jsonl({"prompt": "p", "completions": []})), fatal=True, records=1,
         errors=((1, "field 'completions': the list of completions is empty"),)),
    Case("unknown-layout", content(jsonl({"foo": "x", "bar": "y"}, {"foo": "z", "bar": "w"})), fatal=True,
         records=2, errors=((1, "unknown layout; the record has the keys [foo, bar]; map them with --map "
                                "prompt=FIELD"), (2, "the keys [foo, bar]"))),
    Case("map-to-missing-field", content(jsonl({"question": "q1"}, {"question": "q2"})), fatal=True, records=2,
         mapping={"prompt": "instruction_text"}, errors=((1, "field 'instruction_text': missing"),
                                                         (2, "field 'instruction_text': missing"))),
    # --- CSV -------------------------------------------------------------------------------------------------
    Case("csv-row-with-too-many-fields", content(b"prompt,response\nhello,world\na,b,c\nlast,row\n", "t.csv"),
         fatal=False, records=3, imported=2, errors=((3, "the row has 3 fields but the header has 2"),)),
    Case("csv-duplicated-header", content(b"prompt,prompt\na,b\n", "t.csv"), fatal=True,
         error="the CSV header repeats the column(s) prompt"),
    Case("csv-unclosed-quote", content(b'prompt,response\nhello,world\n"never closed,x\nmore,rows\n', "t.csv"),
         fatal=False, records=2, imported=1, errors=((3, "the row runs from line 3 to line 4, so a quote is probably "
                                                          "not closed"),)),
    Case("csv-invalid-json-cell", content(b'messages,note\n"[{""role"": ""user"",",x\n', "t.csv"), fatal=True,
         records=1, errors=((2, "field 'messages': the cell holds invalid JSON"),)),
    Case("tsv-short-row", content(b"question\tanswer\nq1\ta1\nonly one field\n", "t.tsv"), fatal=False, records=2,
         imported=1, errors=((3, "the row has 1 fields but the header has 2"),)),
    # --- containers ------------------------------------------------------------------------------------------
    Case("gzip-truncated", content(gzip_without_trailer, "t.jsonl.gz"), fatal=False, records=3001, imported=3000,
         errors=((3001, "the compressed stream ends early or is corrupt"),)),
    Case("gzip-garbage", content(b"\x1f\x8b" + b"\x00garbage" * 10, "t.jsonl.gz"), fatal=True,
         error="not a readable gzip file"),
    Case("parquet-damaged-footer", content(parquet_damaged_footer, "t.parquet"), fatal=True,
         error="not a readable Parquet file"),
    Case("parquet-truncated", content(lambda: parquet_bytes()[:5000], "t.parquet"), fatal=True,
         error="not a readable Parquet file"),
    Case("parquet-damaged-row-group", content(parquet_damaged_row_group, "t.parquet"), fatal=False, records=2001,
         imported=2000, errors=((1000, "Parquet row group 1 (rows 1000-1999) is damaged"),)),
    Case("fifty-mb-line-valid", content(lambda: fifty_mb_line(valid=True)), fatal=False, records=3, imported=3),
    Case("fifty-mb-line-invalid-utf8", content(lambda: fifty_mb_line(valid=False)), fatal=False, records=3,
         imported=2, errors=((2, "not valid UTF-8 (byte 0xff at column"),)),
    # --- paths -----------------------------------------------------------------------------------------------
    Case("a-directory-without-data", a_directory_without_data, fatal=True,
         error="is a directory with no data files below it (.jsonl, .ndjson, .json, .csv, .tsv, .parquet"),
    Case("a-missing-path", missing, fatal=True, error="no such file"),
]

SEED = jsonl(
    chat("seed prompt one"),
    {"question": "seed question", "answer": "42"},
    {"prompt": "seed completions", "completions": [{"model": "m1", "completion": "a"},
                                                    {"model": "m2", "completion": "b"}]},
)


@pytest.fixture
def seeded(store: Store, tmp_path: Path) -> Store:
    """A database that already holds samples, candidates and an import, so 'unchanged' means something."""
    seed = tmp_path / "seed" / "seed.jsonl"
    seed.parent.mkdir()
    seed.write_bytes(SEED)
    [report] = import_files(store, [seed])
    assert (report.imported, report.candidates, report.bad) == (3, 2, 0)
    return store


def snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {table: store.query(f"SELECT * FROM {table} ORDER BY id")
            for table in ("samples", "candidates", "imports")}


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 35
    assert len({case.id for case in CASES}) == len(CASES)
    assert sum(case.fatal for case in CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_input(case: Case, seeded: Store, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    before = snapshot(seeded)

    [report] = import_files(seeded, [path], format_name=case.format_name, mapping=case.mapping)

    assert report.file == str(path)
    if case.error is not None:
        assert report.error is not None and case.error in report.error, report.error
        assert report.error.startswith(str(path)), "a whole-file error names the file"
        assert "\n" not in report.error
    else:
        assert report.error is None, report.error
    assert report.records == case.records
    assert report.bad == len(case.errors)
    assert report.imported == case.imported
    assert [error["line"] for error in report.errors] == [position for position, _ in case.errors]
    for error, (position, reason) in zip(report.errors, case.errors, strict=True):
        assert reason in error["reason"], f"{case.id} at {position}: {error['reason']!r}"
        assert "\n" not in error["reason"]

    after = snapshot(seeded)
    if case.fatal:
        assert report.imported == 0
        assert after == before, "a file with no valid record must not change the database"
        return
    new = seeded.query("SELECT row_number FROM samples WHERE import_id = ? ORDER BY row_number",
                       [report.import_id])
    assert len(new) == case.imported
    assert not {row[0] for row in new} & {position for position, _ in case.errors}, "a bad row was stored"
    imports = seeded.query("SELECT records, imported, bad, errors FROM imports WHERE id = ?", [report.import_id])
    assert imports[0][:3] == (case.records, case.imported, len(case.errors))
    assert [e["line"] for e in json.loads(imports[0][3])] == [position for position, _ in case.errors]
    assert set(before["samples"]) <= set(after["samples"]), "an import never changes the rows already stored"
    assert len(after["samples"]) == len(before["samples"]) + case.imported


@pytest.mark.parametrize("case", [case for case in CASES if "fifty-mb" not in case.id],
                         ids=[case.id for case in CASES if "fifty-mb" not in case.id])
def test_malformed_input_through_the_cli(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI never raises, prints the reason with the position, and exits 2 when the file had nothing valid."""
    path = case.build(tmp_path)
    argv = ["--db", str(tmp_path / "cli.duckdb"), "import", str(path), "--json", "--format", case.format_name]
    if case.mapping:
        argv += ["--map", ",".join(f"{key}={value}" for key, value in case.mapping.items())]

    code = cli.main(argv)

    out, err = capsys.readouterr()
    [summary] = json.loads(out.strip().splitlines()[-1])
    assert summary["records"] == case.records and summary["imported"] == case.imported
    if case.fatal:
        assert code == 2
    else:
        assert code == (1 if case.errors else 0)
    for position, reason in case.errors[:10]:
        assert f"{position}: " in err and reason in err
    if case.error:
        assert case.error in err
    assert "Traceback" not in err


def test_numbers_as_text_are_accepted(store: Store, tmp_path: Path) -> None:
    """A number where text belongs (content 42, an answer of 18) is kept as its decimal text, not rejected.

    GSM8K-style files carry numeric answers and some exporters write numeric contents; the number is lossless as
    text, whereas a boolean, object or null is refused (see the content-is-boolean and content-is-object cases).
    """
    path = tmp_path / "numbers.jsonl"
    path.write_bytes(jsonl({"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": 4.5}]},
                           {"question": 7, "answer": 18}))
    [report] = import_files(store, [path])
    assert (report.imported, report.bad) == (2, 0)
    rows = store.query("SELECT messages, reference FROM samples ORDER BY row_number")
    assert [m["content"] for m in json.loads(rows[0][0])] == ["42", "4.5"]
    assert json.loads(rows[1][0])[0]["content"] == "7" and rows[1][1] == "18"


def test_a_first_line_longer_than_the_sniffing_window_does_not_hide_the_other_lines(store: Store,
                                                                                    tmp_path: Path) -> None:
    """A 200 kB first record used to make the file look like one JSON document and the lines after it vanish."""
    path = tmp_path / "long_first.jsonl"
    path.write_bytes(jsonl(chat("x" * 200_000), GOOD_1, GOOD_2))
    [report] = import_files(store, [path])
    assert (report.file_type, report.records, report.imported, report.bad) == ("jsonl", 3, 3, 0)


@pytest.mark.parametrize("data", [
    compact({"data": [GOOD_1, GOOD_2]}),
    compact({"data": [GOOD_1, GOOD_2]}) + b"\n",
    json.dumps({"version": 1, "data": [GOOD_1, GOOD_2]}, indent=2).encode(),
    compact({"data": [GOOD_1, GOOD_2], "pad": "y" * 100_000}),
], ids=["one-line", "one-line-newline", "pretty", "longer-than-the-window"])
def test_a_wrapper_document_is_read_as_its_list_of_records(data: bytes, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "wrapped.json"
    path.write_bytes(data)
    [report] = import_files(store, [path])
    assert (report.file_type, report.records, report.imported, report.bad) == ("json", 2, 2, 0)


FIREFLY = {"conversation": [{"human": "你好", "assistant": "你好！"}, {"human": "再见", "assistant": "再见！"}]}


@pytest.mark.parametrize("data", [compact(FIREFLY), line(FIREFLY), json.dumps(FIREFLY, indent=2).encode()],
                         ids=["one-line", "one-line-newline", "pretty"])
def test_a_lone_record_with_a_list_of_turns_is_not_mistaken_for_a_wrapper(data: bytes, store: Store,
                                                                          tmp_path: Path) -> None:
    path = tmp_path / "one_firefly.json"
    path.write_bytes(data)
    [report] = import_files(store, [path])
    assert (report.records, report.imported, report.bad, report.format) == (1, 1, 0, "firefly")


def test_gzip_cut_in_the_middle_keeps_the_lines_before_the_damage(store: Store, tmp_path: Path) -> None:
    records = [{"question": f"question {i} " + "x" * (i % 50)} for i in range(20_000)]
    whole = gzip.compress(jsonl(*records))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    [report] = import_files(store, [path])
    assert report.file_type == "jsonl+gzip" and report.bad == 1
    assert 0 < report.imported < len(records)
    assert report.errors[0]["line"] == report.records == report.imported + 1
    assert "the compressed stream ends early or is corrupt" in report.errors[0]["reason"]
    stored = store.query("SELECT row_number FROM samples ORDER BY row_number")
    assert [row[0] for row in stored] == list(range(1, report.imported + 1))


def test_reimport_adds_nothing_and_counts_duplicates(seeded: Store, tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(jsonl(GOOD_1, {"messages": []}, GOOD_2))
    [first] = import_files(seeded, [path])
    assert (first.imported, first.duplicates, first.bad) == (2, 0, 1)
    before = snapshot(seeded)
    [again] = import_files(seeded, [path])
    assert (again.records, again.imported, again.duplicates, again.bad) == (3, 0, 2, 1)
    assert snapshot(seeded) == before


def test_every_bad_row_is_counted_but_only_the_first_hundred_are_listed(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "many_bad.jsonl"
    path.write_bytes(jsonl(*([{"messages": []}] * 250), GOOD_1))
    [report] = import_files(store, [path])
    assert (report.records, report.imported, report.bad) == (251, 1, 250)
    assert [error["line"] for error in report.errors] == list(range(1, 101))


# --- one file is one transaction -------------------------------------------------------------------------------

def write_big_jsonl(path: Path, count: int) -> None:
    with path.open("w") as out:
        out.writelines(f'{{"question": "question number {i} of the big file", "answer": "{i}"}}\n'
                       for i in range(count))


def rows_from(db: Path, name: str) -> tuple[int, list[tuple[Any, ...]]]:
    """Open the database after the crash (recovering its WAL) and count what the big file left behind."""
    with duckdb.connect(str(db)) as connection:
        samples = connection.execute("SELECT count(*) FROM samples WHERE source = ?", [name]).fetchone()[0]
        imports = connection.execute("SELECT path, records, imported FROM imports WHERE source = ?",
                                     [name]).fetchall()
    return samples, imports


def seed_db(db: Path, tmp_path: Path) -> None:
    seed = tmp_path / "seed.jsonl"
    seed.write_bytes(SEED)
    subprocess.run([sys.executable, "-m", "blossom_studio", "--db", str(db), "import", str(seed)],
                   cwd=PROJECT, check=True, capture_output=True)


def test_kill_9_during_a_cli_import_leaves_no_half_file(tmp_path: Path) -> None:
    """`kill -9` the real CLI while it writes a 300k-record file: the file is in the DB entirely or not at all."""
    db = tmp_path / "studio.duckdb"
    seed_db(db, tmp_path)
    big = tmp_path / "big.jsonl"
    count = 300_000
    write_big_jsonl(big, count)
    size_before = db.stat().st_size
    process = subprocess.Popen([sys.executable, "-m", "blossom_studio", "--db", str(db), "import", str(big)],
                               cwd=PROJECT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        # DuckDB writes full row groups of an open transaction into the file before it commits: wait for that
        while process.poll() is None and db.stat().st_size <= size_before and time.monotonic() - started < 30:
            time.sleep(0.005)
        was_running = process.poll() is None
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    samples, imports = rows_from(db, "big")
    assert samples in (0, count), f"a half file was stored: {samples} of {count} rows"
    if samples == 0:
        assert imports == []
    else:
        assert imports == [(str(big.resolve()), count, count)]
    assert was_running, "the import finished before the kill; make the file bigger"
    assert process.returncode == -signal.SIGKILL
    # the seed survived, and the database is usable: a re-run imports the file completely
    with duckdb.connect(str(db)) as connection:
        assert connection.execute("SELECT count(*) FROM samples WHERE source = 'seed'").fetchone()[0] == 3
    subprocess.run([sys.executable, "-m", "blossom_studio", "--db", str(db), "import", str(big), "--no-profile"],
                   cwd=PROJECT, check=True, capture_output=True)
    assert rows_from(db, "big")[0] == count


KILL_AFTER_FIRST_BATCH = """
import os, sys, time
import blossom_studio.cli as cli

def stall(self, done, total):  # the first batch has been handed to the writer: say so, then wait to be killed
    open(os.environ["MARKER"], "w").close()
    time.sleep(120)

cli._ProgressBar.update = stall
sys.exit(cli.main(sys.argv[1:]))
"""


def test_kill_9_after_the_first_batch_is_written_leaves_nothing(tmp_path: Path) -> None:
    """Deterministic variant: the CLI is killed while its transaction holds the first 20k-row batch."""
    db = tmp_path / "studio.duckdb"
    seed_db(db, tmp_path)
    big = tmp_path / "big.jsonl"
    count = 3 * importer_module.BATCH_SIZE
    write_big_jsonl(big, count)
    marker = tmp_path / "first-batch-sent"
    env = {**os.environ, "MARKER": str(marker)}
    process = subprocess.Popen([sys.executable, "-c", KILL_AFTER_FIRST_BATCH, "--db", str(db), "import", str(big)],
                               cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert marker.exists(), process.stderr.read().decode() if process.stderr else ""
        time.sleep(0.5)  # let the writer thread insert the batch into the open transaction
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
        if process.stderr:
            process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    assert rows_from(db, "big") == (0, [])
    with duckdb.connect(str(db)) as connection:
        assert connection.execute("SELECT count(*) FROM samples").fetchone()[0] == 3


def test_cancel_after_the_first_batch_stores_nothing_from_the_file(seeded: Store, tmp_path: Path) -> None:
    big = tmp_path / "big.jsonl"
    write_big_jsonl(big, 3 * importer_module.BATCH_SIZE)
    cancel = threading.Event()
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        cancel.set()

    before = snapshot(seeded)
    with pytest.raises(ImportCancelled, match="nothing from this file was kept"):
        import_files(seeded, [big], progress=progress, cancel=cancel)
    assert len(calls) == 1 and 0 < calls[0][0] < calls[0][1], "cancelled after the first batch, before the end"
    assert snapshot(seeded) == before
    # the store is still usable after the rollback
    [report] = import_files(seeded, [big])
    assert report.imported == 3 * importer_module.BATCH_SIZE
