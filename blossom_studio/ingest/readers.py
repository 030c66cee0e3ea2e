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
from blossom_studio.ingest.paths import DATA_SUFFIXES

Position = int
Item = tuple[Position, "dict[str, Any] | RecordError"]
STRUCTURED_CSV_KEYS = frozenset(
    {"messages", "conversations", "conversation", "chosen", "rejected", "completions", "history", "metadata"}
)
RECORD_LIST_KEYS = STRUCTURED_CSV_KEYS | {"output"}  # a record with one of these lists is a record, not a wrapper
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


def open_records(path: str | os.PathLike[str]) -> RecordSource:
    """Open `path`, sniff its content (not its extension) and return its records; raise ImportFileError if unusable."""
    file = Path(path)
    if not file.exists():
        raise ImportFileError(f"{file}: no such file")
    if file.is_dir():
        endings = ", ".join(DATA_SUFFIXES)
        raise ImportFileError(f"{file}: is a directory with no data files below it ({endings}, optionally .gz)")
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
        head = _read_head(stream)
        stream.seek(0)
    except (OSError, EOFError, zlib.error) as exc:
        raw.close()
        raise ImportFileError(f"{file}: not a readable gzip file ({exc})") from None
    text_head = head[len(BOM):] if head.startswith(BOM) else head
    if _is_utf16_or_32(text_head):
        raw.close()
        raise ImportFileError(f"{file}: the text is UTF-16 or UTF-32 encoded; save it as UTF-8 and import it again")
    first = text_head.lstrip()[:1]
    if not first:
        raw.close()
        raise ImportFileError(f"{file}: the file is empty (no records)")
    if first in (b"[", b"{", *(bytes([c]) for c in b'"-0123456789tfn')):
        kind = _sniff_json(stream, text_head, whole=len(head) < SNIFF_BYTES)
        if kind == "jsonl":
            return RecordSource(file, "jsonl" + suffix, "line", total, _jsonl_items(stream, raw), _position(raw, total))
        if kind == "json":
            return RecordSource(file, "json" + suffix, "item", total, _json_items(file, stream, raw),
                                _position(raw, total))
        if kind != "csv":
            raw.close()
            raise ImportFileError(f"{file}: the file is a single JSON {kind}, not a record or a list of records")
    if b"\0" in head:
        raw.close()
        raise ImportFileError(f"{file}: binary content that is not gzip or Parquet; expected JSON, JSONL, CSV or "
                              "Parquet")
    delimiter = "\t" if b"\t" in text_head.split(b"\n", 1)[0] else ","
    kind = ("tsv" if delimiter == "\t" else "csv") + suffix
    return RecordSource(file, kind, "line", total, _csv_items(file, stream, raw, delimiter), _position(raw, total))


def _position(raw: BinaryIO, total: int) -> Callable[[], int]:
    """Return a function giving the bytes read so far, or the whole size once the file is closed."""
    return lambda: total if raw.closed else raw.tell()


def _read_head(stream: BinaryIO) -> bytes:
    """Read the first SNIFF_BYTES; a damaged gzip stream keeps what decompressed (the reader reports the damage)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < SNIFF_BYTES:
            chunk = stream.read(min(8192, SNIFF_BYTES - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except (OSError, EOFError, zlib.error):
        if not chunks:
            raise
    return b"".join(chunks)


def _is_utf16_or_32(head: bytes) -> bool:
    """Say whether the text has a UTF-16/32 byte-order mark, or is ASCII text stored in UTF-16/32 without one."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return True
    sample = head[:64]
    return len(sample) >= 4 and 2 * sample.count(0) >= len(sample) and all(b == 0 or 9 <= b < 127 for b in sample)


_INVALID = object()


def _parse_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return _INVALID


def _first_lines(stream: BinaryIO, count: int) -> list[bytes]:
    """Return the first `count` non-blank lines (BOM removed), however long, and rewind the stream."""
    lines: list[bytes] = []
    try:
        for line in stream:
            if not lines and line.startswith(BOM):
                line = line[len(BOM):]
            if line.strip():
                lines.append(line)
                if len(lines) == count:
                    break
    except (OSError, EOFError, zlib.error):
        pass  # a damaged gzip stream: sniff what was read; the reader reports the damage with its line
    stream.seek(0)
    return lines


def _sniff_json(stream: BinaryIO, head: bytes, *, whole: bool) -> str:
    """Tell JSONL from one JSON document by the first two non-blank lines.

    Returns "jsonl", "json", "csv" (not JSON after all), or the JSON type name of a lone scalar document.
    JSONL: the first line is a complete object (but not a lone {"data": [...]} wrapper); or a complete value
    followed by a line that starts a JSON value (a bad first record); or a damaged first line that starts with
    '{' followed by an object line or by nothing. Anything else that starts with '[' or '{' is one document.
    """
    body = head.lstrip()
    first = body[:1]
    if not whole and b"\n" not in body.rstrip() and first != b"{":
        return "json" if first == b"[" else "csv"  # a first line longer than the head is only read for JSONL
    lines = _first_lines(stream, 2)
    line1 = lines[0] if lines else b""
    line2 = lines[1] if len(lines) > 1 else None
    value = _parse_line(line1)
    if value is not _INVALID:
        if isinstance(value, dict):  # one record per line, unless the only line is a {"data": [records]} wrapper
            return "json" if line2 is None and _is_wrapper(value) else "jsonl"
        if line2 is not None and line2.lstrip()[:1] in (b"{", b"["):
            return "jsonl"
        if isinstance(value, list):
            return "json"
        return type_name(value) if line2 is None else "csv"
    if first == b"{" and (line2 is None or isinstance(_parse_line(line2), dict)):
        return "jsonl"
    return "json" if first in (b"[", b"{") else "csv"


def _json_reason(line: bytes, error: Exception) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8 (byte 0x{line[bad.start]:02x} at column {bad.start + 1})"
    message = str(error)
    if message.startswith(("unexpected end of data", "EOF while parsing")):
        return f"truncated JSON ({message})"
    return f"invalid JSON ({message})"


def parse_jsonl_line(line: bytes) -> dict[str, Any] | RecordError:
    """Parse one non-blank JSONL line into a record object, or say why it is not one."""
    line = line.rstrip(b"\r\n")
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return RecordError(_json_reason(line, exc))
    if isinstance(record, dict):
        return record
    return RecordError(f"expected a JSON object, got {type_name(record)}")


def _jsonl_items(stream: BinaryIO, raw: BinaryIO) -> Iterator[Item]:
    lineno = 0
    try:
        for lineno, line in enumerate(stream, 1):
            if lineno == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            if line.strip():
                yield lineno, parse_jsonl_line(line)
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
    except orjson.JSONDecodeError as exc:
        yield from _salvage_array(data, truncated=str(exc).startswith("unexpected end of data"))
        return
    records = _records_of_document(document)
    if records is None:
        raise ImportFileError(f"{file}: a JSON {type_name(document)} is neither a record nor a list of records")
    for index, record in enumerate(records):
        if isinstance(record, dict):
            yield index, record
        else:
            yield index, RecordError(f"expected a JSON object, got {type_name(record)}")


def _is_wrapper(document: dict[str, Any]) -> bool:
    records = _records_of_document(document)
    return records is not None and not (len(records) == 1 and records[0] is document)


def _records_of_document(document: Any) -> list[Any] | None:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = [value for value in document.values() if isinstance(value, list) and value
                 and all(isinstance(item, dict) for item in value[:10])]
        if len(document) <= 3 and len(lists) == 1 and not RECORD_LIST_KEYS & set(document):
            return lists[0]
        return [document]
    return None


def _where(text: str, position: int) -> str:
    """Say where a character offset is, as 'line L column C' (both 1-based)."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line} column {column}"


def _salvage_array(data: bytes, *, truncated: bool) -> Iterator[Item]:
    """Yield the records of a damaged JSON array up to the damage, then one error that says where it is.

    `truncated` says that the strict parser ran into the end of the data, so the damage is a cut-off file.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    constants: list[str] = []
    decoder = json.JSONDecoder(parse_constant=lambda name: constants.append(name) or float("nan"))
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
        if wrapped and text[position] == "]":
            break
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            if truncated:
                yield index, RecordError(f"truncated JSON: the file ends inside this element (it starts at "
                                         f"{_where(text, position)}); the rest of the file is lost")
            else:
                yield index, RecordError(f"invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
                                         "the rest of the file cannot be read")
            return
        except RecursionError:
            yield index, RecordError(f"JSON nested too deeply to read (at {_where(text, position)}); "
                                     "the rest of the file cannot be read")
            return
        if constants:
            yield index, RecordError(f"{constants[0]} is not valid JSON (write null or a string instead)")
            constants.clear()
        else:
            yield index, _checked_record(record)
        index += 1
        while position < len(text) and text[position] in " \t\r\n":
            position += 1
        if position < len(text) and text[position] == ",":
            position += 1
        elif not wrapped:
            break
        elif position < len(text) and text[position] != "]":
            yield index, RecordError(f"invalid JSON at {_where(text, position)} (expected ',' or ']' after the "
                                     "previous element); the rest of the file cannot be read")
            return
    tail = text[position + 1 if wrapped else position:]
    if tail.strip():
        garbage = len(text) - len(tail.lstrip())
        yield index, RecordError(f"unexpected content after the end of the JSON document at {_where(text, garbage)}")


def _checked_record(record: Any) -> dict[str, Any] | RecordError:
    if not isinstance(record, dict):
        return RecordError(f"expected a JSON object, got {type_name(record)}")
    try:
        orjson.dumps(record)
    except TypeError:
        return RecordError("not valid UTF-8 (or a \\uD800-\\uDFFF escape without its pair)")
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
        for column, name in enumerate(names, 1):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                raise ImportFileError(f"{file}: the CSV header is not valid UTF-8 (column {column}); "
                                      "save the file as UTF-8") from None
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ImportFileError(f"{file}: the CSV header repeats the column(s) {', '.join(duplicated)}")
        previous_end = reader.line_num
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            record = _csv_record(names, row)
            if isinstance(record, RecordError) and len(row) != len(names) and previous_end > start:
                record = RecordError(f"{record.reason}; the row runs from line {start} to line {previous_end}, "
                                     "so a quote is probably not closed", record.field)
            yield start, record
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


def _one_line(exc: BaseException) -> str:
    """Return an exception's message on one line, without control characters."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in str(exc)).split())


def _parquet_source(file: Path, total: int) -> RecordSource:
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(file)
    except Exception as exc:  # pyarrow raises several unrelated types for damaged files
        raise ImportFileError(f"{file}: not a readable Parquet file ({_one_line(exc)})") from None
    done = [0]

    def items() -> Iterator[Item]:
        """Read row group by row group, so a damaged group costs only its own rows."""
        metadata = parquet.metadata
        start = 0
        for group in range(parquet.num_row_groups):
            rows = metadata.row_group(group).num_rows
            index = start
            try:
                for batch in parquet.iter_batches(batch_size=8192, row_groups=[group]):
                    for record in batch.to_pylist():
                        yield index, record
                        index += 1
            except Exception as exc:  # a damaged row group: keep the others, report this one
                yield index, RecordError(f"Parquet row group {group} (rows {start}-{start + rows - 1}) is damaged; "
                                         f"its rows from {index} on are skipped ({_one_line(exc)})")
            start += rows
            done[0] = int(total * start / max(metadata.num_rows, 1))

    return RecordSource(file, "parquet", "row", total, items(), lambda: done[0])
