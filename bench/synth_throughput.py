"""Synthesis throughput: a generate job against the offline simulator versus two baselines in the same run.

For each setting (latency, concurrency) it runs, against one simulator process with keep-alive HTTP:
- the studio pipeline: a `generate` job over N imported prompts, every call, candidate and item committed to DuckDB;
- a thread pool of the same width calling the synchronous `OpenAI` client (how BlossomData runs);
- a bare `AsyncOpenAI` + semaphore loop;
- a reference, not a baseline: raw aiohttp posts from long-lived workers, no SDK and nothing persisted, which shows
  how close any Python client gets to the ideal against this server.
The four run in turn, `--repeats` times, so that a noisy minute on a shared machine falls on all of them; it prints
the median items/s of each, the ideal (concurrency / latency) and the median of the paired ratios (studio over the
thread pool of the same repeat); the last line is one JSON object.

The default settings are the issue's two (200 ms x 64 and 1 s x 256, where the server's latency is the limit) and a
fast local server (100 ms x 128, 1,280 calls/s, as a vLLM on the same network can answer short prompts), where the
client's CPU is the limit.

    python bench/synth_throughput.py [--items 3000] [--settings 0.2:64,1.0:256,0.1:128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import httpx2
import openai
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from blossom_studio.ingest import import_files
from blossom_studio.llm.roster import parse_roster
from blossom_studio.store import open_store
from blossom_studio.synth.jobs import create_job
from blossom_studio.synth.runner import JobRunner, start_delays
from blossom_studio.testing.fake_openai import FakeConfig, fake_server_process

MODEL = "fake-a"


def prompt(tag: str, index: int) -> list[dict[str, str]]:
    """Return a unique one-turn prompt."""
    return [{"role": "user", "content": f"[{tag}] Question {index}: explain step {index % 97} of the method."}]


def thread_pool(url: str, items: int, width: int) -> float:
    """Return items/s of a thread pool calling the synchronous client."""
    limits = httpx2.Limits(max_connections=None, max_keepalive_connections=width)
    client = openai.OpenAI(base_url=url, api_key="none", max_retries=0,
                           http_client=openai.DefaultHttpxClient(limits=limits))

    def call(index: int) -> str | None:
        return client.chat.completions.create(model=MODEL, messages=prompt("threads", index)).choices[0].message.content

    started = time.perf_counter()
    with ThreadPoolExecutor(width) as pool:
        answers = list(pool.map(call, range(items)))
    elapsed = time.perf_counter() - started
    client.close()
    assert all(answers)
    return items / elapsed


def bare_async(url: str, items: int, width: int) -> float:
    """Return items/s of AsyncOpenAI under a semaphore, nothing persisted."""

    async def main() -> float:
        limits = httpx2.Limits(max_connections=None, max_keepalive_connections=width)
        client = openai.AsyncOpenAI(base_url=url, api_key="none", max_retries=0,
                                    http_client=openai.DefaultAsyncHttpxClient(limits=limits))
        gate = asyncio.Semaphore(width)

        async def call(index: int) -> str | None:
            async with gate:
                response = await client.chat.completions.create(model=MODEL, messages=prompt("async", index))
                return response.choices[0].message.content

        started = time.perf_counter()
        answers = await asyncio.gather(*(call(index) for index in range(items)))
        elapsed = time.perf_counter() - started
        await client.close()
        assert all(answers)
        return items / elapsed

    return asyncio.run(main())


def raw_http(url: str, items: int, width: int) -> float:
    """Return items/s of raw aiohttp posts from `width` long-lived workers started as a ramp (no SDK, no storage)."""

    async def main() -> float:
        pending = iter(range(items))
        answers: list[str] = []
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width)) as session:

            async def worker(delay: float) -> None:
                await asyncio.sleep(delay)
                for index in pending:
                    body = orjson.dumps({"model": MODEL, "messages": prompt("raw", index)})
                    async with session.post(f"{url}/chat/completions", data=body,
                                            headers={"Content-Type": "application/json"}) as response:
                        answers.append(orjson.loads(await response.read())["choices"][0]["message"]["content"])

            started = time.perf_counter()
            await asyncio.gather(*(worker(delay) for delay in start_delays(width)))
            elapsed = time.perf_counter() - started
        assert len(answers) == items and all(answers)
        return items / elapsed

    return asyncio.run(main())


def pipeline(url: str, items: int, width: int, folder: Path, tag: str) -> float:
    """Return items/s of a studio generate job (calls cached, candidates and item states committed)."""
    data = folder / f"{tag}.jsonl"
    data.write_text("".join(json.dumps({"prompt": prompt(tag, i)[0]["content"]}) + "\n" for i in range(items)))
    roster = parse_roster({"models": {"sim": {"base_url": url, "model": MODEL, "max_concurrency": width}}})
    with open_store(folder / f"{tag}.duckdb") as store:
        import_files(store, [data], source=tag)
        create_job(store, roster, strategy="generate", roles={"A": "sim"}, name=tag)
        runner = JobRunner(store, roster, tag)  # set-up, like the baselines' client construction: not timed
        started = time.perf_counter()
        progress = runner.run()
        elapsed = time.perf_counter() - started
        stored = store.query("SELECT count(*) FROM candidates WHERE job_id = ?", [progress.id])[0][0]
    assert progress.done == items and stored == items, (progress, stored)
    return items / elapsed


def main() -> None:
    """Run every setting and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--settings", default="0.2:64,1.0:256,0.1:128", help="latency:concurrency pairs")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each pipeline per setting, interleaved")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as temp:
        for setting in args.settings.split(","):
            latency, width = float(setting.split(":")[0]), int(setting.split(":")[1])
            ideal = width / latency
            runs: dict[str, list[float]] = {"studio": [], "threads": [], "bare": [], "raw": []}
            with fake_server_process(FakeConfig(latency=latency)) as url:
                for repeat in range(args.repeats):
                    runs["studio"].append(pipeline(url, args.items, width, Path(temp), f"studio-{width}-{repeat}"))
                    runs["threads"].append(thread_pool(url, args.items, width))
                    runs["bare"].append(bare_async(url, args.items, width))
                    runs["raw"].append(raw_http(url, args.items, width))
            studio, threads, bare, raw = (statistics.median(runs[name]) for name in runs)
            paired = statistics.median(s / t for s, t in zip(runs["studio"], runs["threads"], strict=True))
            row = {
                "latency_s": latency, "concurrency": width, "items": args.items, "repeats": args.repeats,
                "ideal_items_per_s": round(ideal, 1), "studio_items_per_s": round(studio, 1),
                "thread_pool_items_per_s": round(threads, 1), "bare_async_items_per_s": round(bare, 1),
                "studio_of_ideal": round(studio / ideal, 3), "thread_pool_of_ideal": round(threads / ideal, 3),
                "bare_async_of_ideal": round(bare / ideal, 3), "raw_http_items_per_s": round(raw, 1),
                "raw_http_of_ideal": round(raw / ideal, 3), "studio_vs_thread_pool": round(paired, 3),
                "runs_items_per_s": {name: [round(value, 1) for value in values] for name, values in runs.items()},
            }
            results[f"{latency:g}s_x{width}"] = row
            print(f"latency {latency:g}s, concurrency {width}, median of {args.repeats}: studio {studio:.1f}/s "
                  f"({studio / ideal:.3f} of ideal {ideal:.0f}/s), thread pool {threads:.1f}/s "
                  f"({threads / ideal:.3f}), bare async {bare:.1f}/s ({bare / ideal:.3f}), raw aiohttp reference "
                  f"{raw:.1f}/s ({raw / ideal:.3f}); "
                  f"studio / thread pool = {paired:.3f}", flush=True)
    worst = min(results.values(), key=lambda row: row["studio_vs_thread_pool"])
    print(json.dumps({
        "benchmark": "synth_throughput", "settings": results,
        "ratio": worst["studio_vs_thread_pool"],
        "ratio_baseline": "studio items/s over the thread pool of the synchronous OpenAI client in the same repeat, "
                          "median of the repeats, worst setting",
        "min_studio_of_ideal": min(row["studio_of_ideal"] for row in results.values()),
    }))


if __name__ == "__main__":
    main()
