"""Profiling everything, in the foreground with phases, or on the background thread the studio polls."""

from __future__ import annotations

import time
from pathlib import Path

from blossom_studio.ingest import import_files
from blossom_studio.profile.run import LANGUAGE, WORDS, BackgroundProfiler, profile_everything
from blossom_studio.store import Store


def test_profile_everything_runs_both_phases(store: Store, realdata: Path) -> None:
    import_files(store, [realdata / "llama-factory/v1_sft_demo.jsonl"])
    phases: list[str] = []
    result = profile_everything(store, progress=lambda phase, done, total: phases.append(phase))
    assert (result.profiled, result.counted, result.cancelled) == (499, 499, False)  # 500 records, one duplicate
    assert phases.index(LANGUAGE) < phases.index(WORDS)
    assert store.query("SELECT count(*) FROM samples WHERE lang IS NULL OR words IS NULL")[0][0] == 0


def test_the_background_profiler_catches_up_after_each_import(store: Store, realdata: Path) -> None:
    profiler = BackgroundProfiler(store).start()
    try:
        import_files(store, [realdata / "gsm8k/test.jsonl"])
        profiler.wake()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = store.query("SELECT count(*) FROM samples WHERE words IS NULL")[0][0]
            if left == 0 and profiler.status().phase == "idle":
                break
            time.sleep(0.1)
        assert store.query("SELECT count(*), count(words) FROM samples")[0] == (1319, 1319)
        assert profiler.status().error is None
    finally:
        profiler.stop()


def test_odd_records_go_through_import_profile_and_balance_without_error(store: Store, tmp_path: Path) -> None:
    import json

    from blossom_studio import balance

    records = [
        {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "😀🎉"}]},
        {"messages": [{"role": "user", "content": "😀😀😀"}, {"role": "assistant", "content": "👍"}]},
        {"messages": [{"role": "user", "content": "请总结：" + "这是一段很长的文字。" * 100_000},
                      {"role": "assistant", "content": "A" * 1_000_000}]},
        {"messages": [{"role": "user", "content": "混合 mixed スクリプト 한국어 русский 中文 English ```x=1```"},
                      {"role": "assistant", "content": "12345 !!! ..."}]},
        {"messages": [{"role": "user", "content": "{{name}} 你好"}, {"role": "assistant", "content": "```\n```"}]},
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
    assert import_files(store, [path])[0].imported == len(records)
    result = profile_everything(store)
    assert (result.profiled, result.counted) == (len(records), len(records))
    langs = dict(store.query("SELECT message_langs[1], message_langs[2] FROM samples WHERE chars < 100 "
                             "AND message_langs[1] IN ('unknown')"))
    assert langs == {"unknown": "unknown"} or set(langs.values()) <= {"unknown"}
    assert balance.balance_rows(store, ["lang", "source", "role"])
    assert balance.length_histogram(store, measure="chars")
    assert balance.top_words(store, source="odd")
    assert balance.mismatches(store)[1] >= 0
