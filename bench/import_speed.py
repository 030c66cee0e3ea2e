"""Import a 500,000-record JSONL built from the real Alpaca files; compare with DuckDB's read_json and pandas."""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REALDATA = ROOT.parent / "shared" / "realdata" / "llama-factory"


def build_file(path: Path, records: int) -> int:
    """Write `records` unique Alpaca records cycled from the real zh and en demo files; return bytes written."""
    source = [*json.loads((REALDATA / "alpaca_zh_demo.json").read_text("utf-8")),
              *json.loads((REALDATA / "alpaca_en_demo.json").read_text("utf-8"))]
    with path.open("wb") as out:
        for index in range(records):
            record = dict(source[index % len(source)])
            record["instruction"] = f"{record['instruction']} [{index}]"
            out.write(orjson.dumps(record) + b"\n")
    return path.stat().st_size


class PeakRss:
    """Samples this process's resident memory every 50 ms and keeps the peak above a baseline."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        """Resident bytes of this process and its children (the import's worker processes)."""
        total, pids, seen = 0, [str(os.getpid())], set()
        while pids:
            pid = pids.pop()
            if pid in seen:
                continue
            seen.add(pid)
            try:
                with open(f"/proc/{pid}/statm") as statm:
                    total += int(statm.read().split()[1]) * resource.getpagesize()
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += (task / "children").read_text().split()
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> PeakRss:
        self.peak = self.current()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def time_duckdb(path: Path, folder: Path) -> float:
    """Time DuckDB's own read_json of the file into a table in a fresh database file."""
    import duckdb

    connection = duckdb.connect(str(folder / "raw.duckdb"), config={"autoinstall_known_extensions": False})
    start = time.perf_counter()
    connection.execute(f"CREATE TABLE raw AS SELECT * FROM read_json('{path}', format='newline_delimited')")
    connection.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start
    connection.close()
    return elapsed


def time_studio(path: Path, folder: Path) -> tuple[float, int, int]:
    """Time the studio's importer on the file; return seconds, samples imported and peak RSS bytes."""
    from blossom_studio.ingest import import_files
    from blossom_studio.store import open_store

    with open_store(folder / "studio.duckdb") as store, PeakRss() as memory:
        start = time.perf_counter()
        report = import_files(store, [path])[0]
        elapsed = time.perf_counter() - start
    if report.bad or report.error:
        raise SystemExit(f"the benchmark file did not import cleanly: {report.as_dict()}")
    return elapsed, report.imported, memory.peak


def time_pandas(path: Path) -> float:
    """Time pandas.read_json(lines=True) on the file (parsing only, no database)."""
    import pandas

    start = time.perf_counter()
    frame = pandas.read_json(path, lines=True)
    elapsed = time.perf_counter() - start
    del frame
    gc.collect()
    return elapsed


TARGET_RATIO = 2.0  # studio time / DuckDB read_json time, at most
TARGET_PANDAS_SPEEDUP = 3.0  # pandas.read_json time / studio time, at least
TARGET_PEAK_BYTES = 4 * 10**9


def run_once(path: Path, folder: Path, records: int, size: int, *, skip_pandas: bool) -> dict[str, object]:
    """Time DuckDB, the studio and pandas on the file, print the figures, and return them with the target checks."""
    folder.mkdir()
    duck = time_duckdb(path, folder)
    print(f"duckdb read_json into a table: {duck:.2f} s", file=sys.stderr)
    studio, imported, peak = time_studio(path, folder)
    print(f"blossom studio import: {studio:.2f} s, {imported / studio:,.0f} records/s, "
          f"peak RSS with workers {peak / 2**30:.2f} GiB", file=sys.stderr)
    pandas_seconds = None if skip_pandas else time_pandas(path)
    if pandas_seconds is not None:
        print(f"pandas.read_json(lines=True): {pandas_seconds:.2f} s", file=sys.stderr)
    result: dict[str, object] = {
        "records": records, "megabytes": round(size / 1e6, 1), "imported": imported,
        "studio_seconds": round(studio, 3), "records_per_second": round(imported / studio),
        "duckdb_read_json_seconds": round(duck, 3), "ratio": round(studio / duck, 3),
        "baseline": "duckdb read_json into a table (same file, same run)",
        "peak_rss_gib": round(peak / 2**30, 3),
    }
    met = {"ratio": studio / duck <= TARGET_RATIO, "peak_rss": peak < TARGET_PEAK_BYTES}
    if pandas_seconds is not None:
        result |= {"pandas_seconds": round(pandas_seconds, 3), "speedup_vs_pandas": round(pandas_seconds / studio, 2)}
        met["pandas"] = pandas_seconds / studio >= TARGET_PANDAS_SPEEDUP
    result["targets_met"] = met
    return result


def main() -> None:
    """Build the file once, run the three timings --runs times, and print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat the three timings on the same file")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="blossom-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "alpaca_500k.jsonl"
        size = build_file(path, args.records)
        print(f"built {path.name}: {args.records:,} records, {size / 1e6:.0f} MB", file=sys.stderr)
        for run in range(1, args.runs + 1):
            if args.runs > 1:
                print(f"run {run} of {args.runs}", file=sys.stderr)
            result = run_once(path, folder / f"run{run}", args.records, size, skip_pandas=args.skip_pandas)
            print(json.dumps(result if args.runs == 1 else {"run": run, **result}), flush=True)


if __name__ == "__main__":
    main()
