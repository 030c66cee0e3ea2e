"""Profile 100,000 real records and compare with seeded langdetect on the same records; time jieba word counts."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REALDATA = ROOT.parent / "shared" / "realdata"
SPEED_TARGET = 30.0
JIEBA_TARGET_MB_S = 1.0


def real_records() -> list[list[tuple[str, str]]]:
    """Import every real file into a temporary studio and return each sample's (role, text) entries."""
    from blossom_studio.ingest import import_files
    from blossom_studio.profile.texts import SAMPLE_TEXTS_SQL, sample_texts
    from blossom_studio.store import open_store

    files = sorted(path for path in REALDATA.rglob("*") if path.suffix in (".json", ".jsonl"))
    with tempfile.TemporaryDirectory() as folder, open_store(Path(folder) / "bench.duckdb") as store:
        import_files(store, files)
        rows = store.query(f"{SAMPLE_TEXTS_SQL} ORDER BY s.source, s.row_number")
    return [sample_texts(messages, candidates) for _id, _source, messages, candidates in rows]


def time_profile(records: list[list[tuple[str, str]]]) -> float:
    """Return the seconds the studio's sample profile takes over the records, in this process."""
    from blossom_studio.profile.samples import profile_sample

    profile_sample([("user", "warm up"), ("assistant", "预热")])
    started = time.perf_counter()
    for entries in records:
        profile_sample(entries)
    return time.perf_counter() - started


def time_langdetect(records: list[list[tuple[str, str]]]) -> float:
    """Return the seconds seeded `langdetect.detect` takes over each record's whole text, in this process."""
    from langdetect import DetectorFactory, detect
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    detect("warm up the profiles")
    started = time.perf_counter()
    for entries in records:
        try:  # noqa: SIM105 (contextlib.suppress would slow the baseline's loop and flatter the ratio)
            detect("\n".join(text for _role, text in entries))
        except LangDetectException:
            pass
    return time.perf_counter() - started


def time_jieba(records: list[list[tuple[str, str]]], workers: int) -> tuple[float, int, float]:
    """Return (seconds, UTF-8 bytes, Han share) for the word counts of every Chinese text, with `workers` processes."""
    from blossom_studio.profile.language import text_language
    from blossom_studio.profile.words import count_texts

    texts = [text for entries in records for _role, text in entries if text_language(text).lang == "zh"]
    size = sum(len(text.encode("utf-8")) for text in texts)
    count_texts(texts[:200], workers=1)
    started = time.perf_counter()
    count_texts(texts, workers=workers)
    return time.perf_counter() - started, size, len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="records to profile (the real ones cycled)")
    parser.add_argument("--workers", type=int, default=2, help="processes for jieba word counts")
    args = parser.parse_args()
    distinct = real_records()
    records = list(islice(cycle(distinct), args.records))
    chars = sum(len(text) for entries in records for _role, text in entries)
    print(f"{len(records):,} records ({len(distinct):,} distinct real samples cycled), {chars / 1e6:.1f} M chars",
          file=sys.stderr)
    ours = time_profile(records)
    print(f"studio profile: {ours:.1f} s, {len(records) / ours:,.0f} samples/s", file=sys.stderr)
    plain = time_langdetect(records)
    print(f"seeded langdetect.detect: {plain:.1f} s, {len(records) / plain:,.0f} samples/s", file=sys.stderr)
    ratio = plain / ours
    print(f"studio is {ratio:.1f}x faster (target {SPEED_TARGET:.0f}x)", file=sys.stderr)
    seconds, size, texts = time_jieba(distinct * max(1, args.records // len(distinct) // 4), args.workers)
    rate = size / seconds / 1e6
    print(f"jieba word counts: {texts:,} Chinese texts, {size / 1e6:.1f} MB in {seconds:.1f} s = {rate:.2f} MB/s "
          f"with {args.workers} processes (target {JIEBA_TARGET_MB_S} MB/s)", file=sys.stderr)
    print(json.dumps({
        "records": len(records), "profile_samples_per_s": round(len(records) / ours),
        "langdetect_samples_per_s": round(len(records) / plain), "ratio": round(ratio, 1),
        "ratio_baseline": "seeded langdetect.detect time / studio profile time, same records, same process",
        "jieba_mb_per_s": round(rate, 2), "jieba_workers": args.workers,
        "targets_met": ratio >= SPEED_TARGET and rate >= JIEBA_TARGET_MB_S,
    }))


if __name__ == "__main__":
    main()
