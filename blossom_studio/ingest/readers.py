"""Read records from a file whatever its container: JSONL, JSON, CSV/TSV, Parquet, optionally gzipped."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from blossom_studio.ingest.errors import ImportFileError, RecordError, type_name

Position = int
Item = tuple[Position, "dict[str, Any] | RecordError"]
STRUCTURED_CSV_KEYS = frozenset(
    {"messages", "conversations", "conversation", "chosen", "rejected", "completions", "history", "metadata"}
)
BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 1 << 16


@dataclass
class RecordSource:
    """An opened file: its detected container type, size, and a stream of (position, record or error)."""

    path: Path
    file_type: str
    position_kind: str
    total_bytes: int
    items: Iterator[Item]
    bytes_read: Callable[[], int]


def describe_position(kind: str, position: int) -> str:
    """Say where a record is in its file, e.g. 'line 12' or 'item 3'."""
    return f"{kind} {position}"


def open_records(path: str | os.PathLike[str]) -> RecordSource:
    """Open `path`, sniff its content (not its extension) and return its records; raise ImportFileError if unusable."""
    file = Path(path)
    if not file.exists():
        raise ImportFileError(f"{file}: no such file")
    if file.is_dir():
        raise ImportFileError(f"{file}: is a directory; pass the files inside it (for example {file}/*.jsonl)")
    try:
        raw = open(file, "rb")  # noqa: SIM115 - closed by the iterators below
    except OSError as exc:
        raise ImportFileError(f"{file}: cannot be read ({exc.strerror})") from None
    total = file.stat().st_size
    magic = raw.read(4)
    raw.seek(0)
    if not magic:
        raw.close()
        raise ImportFileError(f"{file}: the file is empty")
    if magic == b"PAR1":
        raw.close()
        return _parquet_source(file, total)
    gzipped = magic[:2] == b"\x1f\x8b"
    stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
    suffix = "+gzip" if gzipped else ""
    try:
        head = stream.read(SNIFF_BYTES)
        stream.seek(0)
    except (OSError, EOFError, zlib.error) as exc:
        raw.close()
        raise ImportFileError(f"{file}: not a readable gzip file ({exc})") from None
    text_head = head[len(BOM):] if head.startswith(BOM) else head
    first = text_head.lstrip()[:1]
    if not first:
        raw.close()
        raise ImportFileError(f"{file}: the file is empty (no records)")
    if first == b"[":
        return RecordSource(file, "json" + suffix, "item", total, _json_items(file, stream, raw), raw.tell)
    if first == b"{" and not _first_line_is_object(text_head):
        return RecordSource(file, "json" + suffix, "item", total, _json_items(file, stream, raw), raw.tell)
    if first == b"{":
        return RecordSource(file, "jsonl" + suffix, "line", total, _jsonl_items(stream, raw), raw.tell)
    if b"\0" in head:
        raw.close()
        raise ImportFileError(f"{file}: binary content that is not gzip or Parquet; expected JSON, JSONL, CSV or "
                              "Parquet")
    delimiter = "\t" if b"\t" in text_head.split(b"\n", 1)[0] else ","
    kind = ("tsv" if delimiter == "\t" else "csv") + suffix
    return RecordSource(file, kind, "line", total, _csv_items(file, stream, raw, delimiter), raw.tell)


def _first_line_is_object(head: bytes) -> bool:
    line = head.lstrip().split(b"\n", 1)[0]
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def _json_reason(line: bytes, error: Exception) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte 0x{line[bad.start]:02x} at column {bad.start + 1})"
    message = str(error)
    if message.startswith(("unexpected end of data", "EOF while parsing")):
        return f"truncated JSON ({message})"
    return f"invalid JSON ({message})"


def _jsonl_items(stream: BinaryIO, raw: BinaryIO) -> Iterator[Item]:
    loads = orjson.loads
    lineno = 0
    try:
        for lineno, line in enumerate(stream, 1):
            if lineno == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            if not line.strip():
                continue
            try:
                record = loads(line)
            except orjson.JSONDecodeError as exc:
                yield lineno, RecordError(_json_reason(line, exc))
                continue
            if isinstance(record, dict):
                yield lineno, record
            else:
                yield lineno, RecordError(f"expected a JSON object, got {type_name(record)}")
    except (OSError, EOFError, zlib.error) as exc:
        yield lineno + 1, RecordError(f"the compressed stream ends early or is corrupt ({exc}); "
                                      "records after this line are lost")
    finally:
        raw.close()


def _json_items(file: Path, stream: BinaryIO, raw: BinaryIO) -> Iterator[Item]:
    try:
        data = stream.read()
    except (OSError, EOFError, zlib.error) as exc:
        raw.close()
        raise ImportFileError(f"{file}: the compressed stream is corrupt ({exc})") from None
    raw.close()
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        yield from _salvage_array(data)
        return
    records = _records_of_document(document)
    if records is None:
        raise ImportFileError(f"{file}: a JSON {type_name(document)} is neither a record nor a list of records")
    for index, record in enumerate(records):
        if isinstance(record, dict):
            yield index, record
        else:
            yield index, RecordError(f"expected a JSON object, got {type_name(record)}")


def _records_of_document(document: Any) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = [value for value in document.values() if isinstance(value, list) and value
                 and all(isinstance(item, dict) for item in value[:10])]
        if len(document) <= 3 and len(lists) == 1 and not {"messages", "conversations", "completions"} & set(document):
            return lists[0]
        return [document]
    return None


def _salvage_array(data: bytes) -> Iterator[Item]:
    """Yield the records of a damaged JSON array up to the damage, then one error that says where it is."""
    text = data.decode("utf-8", errors="surrogateescape")
    decoder = json.JSONDecoder()
    position = len(text) - len(text.lstrip())
    wrapped = text.startswith("[", position)
    position += 1 if wrapped else 0
    index = 0
    while True:
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position >= len(text):
            yield index, RecordError("truncated JSON: the file ends before the closing ']'")
            return
        if text[position] == "]":
            return
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            what = "truncated JSON" if exc.pos >= len(text) - 1 else "invalid JSON"
            yield index, RecordError(f"{what} at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                                     "the rest of the file cannot be read")
            return
        yield index, _checked_record(record)
        index += 1
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position < len(text) and text[position] == ",":
            position += 1
        elif not wrapped:
            return


def _checked_record(record: Any) -> dict[str, Any] | RecordError:
    if not isinstance(record, dict):
        return RecordError(f"expected a JSON object, got {type_name(record)}")
    try:
        orjson.dumps(record)
    except TypeError:
        return RecordError("not valid UTF-8")
    return record


def _csv_items(file: Path, stream: BinaryIO, raw: BinaryIO, delimiter: str) -> Iterator[Item]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(name.strip() for name in header):
            raise ImportFileError(f"{file}: the CSV header line is empty")
        names = [name.strip() for name in header]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ImportFileError(f"{file}: the CSV header repeats the column(s) {', '.join(duplicated)}")
        previous_end = reader.line_num
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            yield start, _csv_record(names, row)
    except csv.Error as exc:
        yield reader.line_num, RecordError(f"malformed CSV ({exc}); the rest of the file cannot be read")
    except (OSError, EOFError, zlib.error) as exc:
        yield reader.line_num + 1, RecordError(f"the compressed stream ends early or is corrupt ({exc})")
    finally:
        raw.close()


def _csv_record(names: list[str], row: list[str]) -> dict[str, Any] | RecordError:
    if len(row) != len(names):
        return RecordError(f"the row has {len(row)} fields but the header has {len(names)}")
    record: dict[str, Any] = {}
    for name, cell in zip(names, row, strict=True):
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            return RecordError("not valid UTF-8", name)
        if name in STRUCTURED_CSV_KEYS and cell.lstrip()[:1] in ("[", "{"):
            try:
                record[name] = orjson.loads(cell)
            except orjson.JSONDecodeError as exc:
                return RecordError(f"the cell holds invalid JSON ({exc})", name)
        else:
            record[name] = cell
    return record


def _parquet_source(file: Path, total: int) -> RecordSource:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        raise ImportFileError(f"{file}: not a readable Parquet file ({exc})") from None
    done = [0]

    def items() -> Iterator[Item]:
        index = 0
        try:
            for batch in parquet.iter_batches(batch_size=8192):
                for record in batch.to_pylist():
                    yield index, record
                    index += 1
                done[0] = int(total * index / max(parquet.metadata.num_rows, 1))
        except Exception as exc:  # a damaged row group: keep what was read, report the rest
            yield index, RecordError(f"the Parquet file is damaged from here on ({exc})")

    return RecordSource(file, "parquet", "row", total, items(), lambda: done[0])
