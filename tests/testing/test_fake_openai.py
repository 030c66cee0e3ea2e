"""The offline simulator, driven by the real openai SDK over HTTP: models, deterministic answers in the prompt's
language, judge replies the parsers accept (or reject when malformed), faults with Retry-After, and its counters."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from blossom_studio.synth.judge_parse import parse_judge_output
from blossom_studio.synth.templates import build_judge_prompt
from blossom_studio.testing.fake_openai import (
    FAKE_MODELS,
    FakeConfig,
    FakeOpenAIServer,
    fake_server_process,
    fetch_stats,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
HAN = re.compile(r"[\u4e00-\u9fff]")
ANSWERS = ("The answer is 42 because 6 times 7 is 42.", "It is 41.", "Forty-two.", "I am not sure.")
# (kind, aspect, number of answers, reference) for every judge prompt the studio builds
JUDGE_CASES = [
    ("verify", None, 1, "42"),
    ("consistency", None, 2, None),
    ("pairwise", None, 2, None),
    ("rate", "overall", 1, None),
    ("rate", "overall", 3, None),
    ("rate", "honesty", 2, None),
    ("rate", "honesty", 4, None),
    ("instruction_quality", None, 0, None),
    ("instruction_score", None, 1, None),
]
INSTRUCTION = {"en": "What is six times seven? Explain briefly.", "zh": "六乘以七等于多少？请简要解释。"}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(FakeConfig()) as running:
        yield running


def sdk(base_url: str) -> openai.OpenAI:
    """The synchronous SDK client without its own retries, so that every fault is seen."""
    return openai.OpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=10)


def ask(client: openai.OpenAI, model: str, content: str, **params: object) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}], **params)


def judge_messages(kind: str, lang: str, aspect: str | None, n: int, reference: str | None) -> list[dict[str, str]]:
    return build_judge_prompt(kind, lang, instruction=INSTRUCTION[lang], answers=ANSWERS[:n], reference=reference,
                              aspect=aspect)


def post(url: str) -> dict:
    request = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --- the OpenAI-compatible surface -----------------------------------------------------------------------------------


def test_models_lists_the_configured_models() -> None:
    with FakeOpenAIServer(FakeConfig(models=("fake-a", "fake-reasoner"))) as running:
        listed = sdk(running.base_url).models.list()
    assert [model.id for model in listed.data] == ["fake-a", "fake-reasoner"]
    assert all(model.owned_by == "simulator" for model in listed.data)


def test_default_models_are_fake_a_b_c(server: FakeOpenAIServer) -> None:
    assert [model.id for model in sdk(server.base_url).models.list().data] == list(FAKE_MODELS)
    assert FAKE_MODELS == ("fake-a", "fake-b", "fake-c")


def test_base_url_has_the_bound_port_and_v1(server: FakeOpenAIServer) -> None:
    assert server.port > 0
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"


def test_completion_has_the_openai_shape(server: FakeOpenAIServer) -> None:
    completion = ask(sdk(server.base_url), "fake-b", "Name a colour.")
    assert completion.object == "chat.completion"
    assert completion.model == "fake-b"
    (choice,) = completion.choices
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert choice.message.content and "fake-b" in choice.message.content
    usage = completion.usage
    assert usage is not None and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_same_request_gets_the_same_answer_and_models_differ(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    first = ask(client, "fake-a", "Pick a number.").choices[0].message.content
    again = ask(client, "fake-a", "Pick a number.").choices[0].message.content
    other_model = ask(client, "fake-b", "Pick a number.").choices[0].message.content
    other_prompt = ask(client, "fake-a", "Pick another number.").choices[0].message.content
    assert first == again
    assert other_model != first
    assert other_prompt != first


def test_answers_are_the_same_across_servers_with_the_same_seed_only() -> None:
    texts = []
    for seed in (0, 0, 1):
        with FakeOpenAIServer(FakeConfig(seed=seed)) as running:
            texts.append(ask(sdk(running.base_url), "fake-a", "Pick a number.").choices[0].message.content)
    assert texts[0] == texts[1]
    assert texts[2] != texts[0]


def test_chinese_prompt_gets_a_chinese_answer(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    chinese = ask(client, "fake-a", "请解释一下什么是递归。").choices[0].message.content or ""
    english = ask(client, "fake-a", "Please explain recursion.").choices[0].message.content or ""
    assert len(HAN.findall(chinese)) >= 10
    assert not HAN.search(english)


def test_reasoning_model_adds_reasoning_content() -> None:
    with FakeOpenAIServer(FakeConfig(models=("fake-a", "fake-reasoner"))) as running:
        client = sdk(running.base_url)
        reasoned = ask(client, "fake-reasoner", "Why?").model_dump()
        plain = ask(client, "fake-a", "Why?").model_dump()
    assert reasoned["choices"][0]["message"]["reasoning_content"] == "(simulated reasoning of fake-reasoner)"
    assert "reasoning_content" not in plain["choices"][0]["message"]


def test_small_max_tokens_truncates_with_finish_reason_length(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    full = ask(client, "fake-a", "Describe the sea.").choices[0].message.content or ""
    cut = ask(client, "fake-a", "Describe the sea.", max_tokens=4)
    assert cut.choices[0].finish_reason == "length"
    assert cut.choices[0].message.content == " ".join(full.split(" ")[:4])


def test_truncated_answer_reports_no_more_completion_tokens_than_max_tokens(server: FakeOpenAIServer) -> None:
    """A real endpoint never bills more completion tokens than max_tokens."""
    cut = ask(sdk(server.base_url), "fake-a", "Describe the sea.", max_tokens=4)
    assert cut.usage is not None
    assert cut.usage.completion_tokens <= 4


def test_unknown_model_is_404_and_bad_body_is_400(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    with pytest.raises(openai.NotFoundError) as missing:
        ask(client, "gpt-nope", "hi")
    assert missing.value.status_code == 404
    assert "gpt-nope" in str(missing.value)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fake-a", messages=[])


# --- judge prompts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("kind", "aspect", "n", "reference"), JUDGE_CASES)
def test_judge_prompt_gets_a_reply_the_parser_accepts(
    server: FakeOpenAIServer, kind: str, aspect: str | None, n: int, reference: str | None, lang: str
) -> None:
    messages = judge_messages(kind, lang, aspect, n, reference)
    reply = sdk(server.base_url).chat.completions.create(model="fake-c", messages=messages)
    text = reply.choices[0].message.content or ""
    parsed = parse_judge_output(kind, text, n_answers=max(1, n), aspect=aspect)
    assert parsed.ok, (parsed.error, text)
    assert "<" not in text  # every placeholder was filled


def test_judge_replies_vary_with_the_request(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    winners = set()
    for index in range(12):
        messages = build_judge_prompt("pairwise", "en", instruction=f"Question number {index}?", answers=ANSWERS[:2])
        text = client.chat.completions.create(model="fake-b", messages=messages).choices[0].message.content or ""
        winners.add(parse_judge_output("pairwise", text).value["winner"])  # type: ignore[index]
    assert len(winners) >= 2


@pytest.mark.parametrize(("kind", "aspect", "n", "reference"), JUDGE_CASES)
def test_malformed_judge_replies_do_not_parse(kind: str, aspect: str | None, n: int, reference: str | None) -> None:
    with FakeOpenAIServer(FakeConfig(rate_malformed=1.0)) as running:
        client = sdk(running.base_url)
        for lang in ("en", "zh"):
            messages = judge_messages(kind, lang, aspect, n, reference)
            text = client.chat.completions.create(model="fake-a", messages=messages).choices[0].message.content
            parsed = parse_judge_output(kind, text or "", n_answers=max(1, n), aspect=aspect)
            assert not parsed.ok, text
            assert parsed.error


def test_malformed_rate_leaves_plain_prompts_alone() -> None:
    with FakeOpenAIServer(FakeConfig(rate_malformed=1.0)) as running:
        text = ask(sdk(running.base_url), "fake-a", "Say hello.").choices[0].message.content or ""
    assert text.startswith("This is a simulated answer from fake-a")


# --- faults ----------------------------------------------------------------------------------------------------------


def test_429_carries_retry_after() -> None:
    with (
        FakeOpenAIServer(FakeConfig(rate_429=1.0, retry_after=0.25)) as running,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        ask(sdk(running.base_url), "fake-a", "hi")
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "0.25"
    assert "Rate limit" in str(caught.value)


def test_500_is_an_internal_server_error() -> None:
    with FakeOpenAIServer(FakeConfig(rate_500=1.0)) as running, pytest.raises(openai.InternalServerError) as caught:
        ask(sdk(running.base_url), "fake-a", "hi")
    assert caught.value.status_code == 500


def test_hang_outlasts_a_short_client_timeout() -> None:
    with FakeOpenAIServer(FakeConfig(rate_hang=1.0, hang_seconds=2.0)) as running:
        client = openai.OpenAI(base_url=running.base_url, api_key="x", max_retries=0, timeout=0.3)
        with pytest.raises(openai.APITimeoutError):
            ask(client, "fake-a", "hi")


def test_fault_rates_are_roughly_honoured_and_seeded() -> None:
    config = FakeConfig(rate_429=0.3, rate_500=0.2, retry_after=0.01, seed=11)
    outcomes = []
    for _ in range(2):
        with FakeOpenAIServer(config) as running:
            client = sdk(running.base_url)
            statuses = []
            for index in range(60):
                try:
                    ask(client, "fake-a", f"q{index}")
                    statuses.append(200)
                except openai.APIStatusError as exc:
                    statuses.append(exc.status_code)
            outcomes.append(statuses)
            stats = running.app.stats.as_dict()
    assert outcomes[0] == outcomes[1]  # the same seed and requests give the same faults
    counts = {status: outcomes[0].count(status) for status in (200, 429, 500)}
    assert 6 <= counts[429] <= 30 and 3 <= counts[500] <= 24 and counts[200] >= 15
    assert stats["by_status"] == {str(status): count for status, count in counts.items() if count}


# --- counters --------------------------------------------------------------------------------------------------------


def test_stats_count_requests_calls_and_repeats(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    for content in ("one", "one", "one", "two", "two", "three"):
        ask(client, "fake-a", content)
    ask(client, "fake-b", "one")  # another model: another call
    stats = fetch_stats(server.base_url)
    assert stats == server.app.stats.as_dict()
    assert stats["requests"] == 7
    assert stats["distinct_calls"] == 4
    assert stats["repeats"] == 3
    assert stats["completed"] == 7 and stats["completed_repeats"] == 3
    assert stats["by_status"] == {"200": 7}
    assert stats["requests"] == stats["distinct_calls"] + stats["repeats"]


def test_stats_count_every_answered_status(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    ask(client, "fake-a", "fine")
    with pytest.raises(openai.NotFoundError):
        ask(client, "gpt-nope", "hi")
    stats = fetch_stats(server.base_url)
    assert stats["requests"] == 2
    assert sum(stats["by_status"].values()) == stats["requests"], stats["by_status"]


def test_failed_attempts_are_repeats_but_not_completed() -> None:
    with FakeOpenAIServer(FakeConfig(rate_500=1.0)) as running:
        client = sdk(running.base_url)
        for _ in range(3):
            with pytest.raises(openai.InternalServerError):
                ask(client, "fake-a", "again")
        stats = fetch_stats(running.base_url)
    assert (stats["requests"], stats["distinct_calls"], stats["repeats"]) == (3, 1, 2)
    assert (stats["completed"], stats["completed_repeats"]) == (0, 0)
    assert stats["by_status"] == {"500": 3}


def test_reset_clears_the_counters(server: FakeOpenAIServer) -> None:
    client = sdk(server.base_url)
    ask(client, "fake-a", "x")
    ask(client, "fake-a", "x")
    root = server.base_url.rsplit("/v1", 1)[0]
    assert post(f"{root}/_fake/reset") == {"reset": True}
    stats = fetch_stats(server.base_url)
    assert stats == {"requests": 0, "by_status": {}, "distinct_calls": 0, "repeats": 0, "completed": 0,
                     "completed_repeats": 0}
    ask(client, "fake-a", "x")
    assert fetch_stats(server.base_url)["repeats"] == 0


def test_stop_with_an_open_keep_alive_connection_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeOpenAIServer(FakeConfig()) as running:
        client = sdk(running.base_url)
        ask(client, "fake-a", "hi")  # the SDK keeps the connection open
    client.close()
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors, [record.getMessage() for record in errors]


def test_unknown_route_is_404(server: FakeOpenAIServer) -> None:
    root = server.base_url.rsplit("/v1", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{root}/v1/embeddings", timeout=10)
    assert caught.value.code == 404


# --- as a child process and as a command -----------------------------------------------------------------------------


def port_open(base_url: str) -> bool:
    host_port = base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, int(port))) == 0


def test_server_process_serves_and_reports_stats_then_stops() -> None:
    with fake_server_process(FakeConfig(models=("proc-model",), latency=0.01)) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", base_url)
        client = sdk(base_url)
        assert [model.id for model in client.models.list().data] == ["proc-model"]
        ask(client, "proc-model", "hi")
        ask(client, "proc-model", "hi")
        stats = fetch_stats(base_url)
        assert (stats["requests"], stats["distinct_calls"], stats["repeats"]) == (2, 1, 1)
    assert not port_open(base_url)


def test_module_command_prints_its_url_and_serves() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "blossom_studio.testing.fake_openai", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_DIR,
    ) as process:
        try:
            line = process.stdout.readline() if process.stdout else ""
            match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+)/v1)\n", line)
            assert match, line
            assert int(match.group(2)) > 0
            with sdk(match.group(1)) as client:
                assert [model.id for model in client.models.list().data] == list(FAKE_MODELS)
        finally:
            process.terminate()
            process.wait(10)
        stderr = process.stderr.read() if process.stderr else ""
    assert process.returncode is not None
    assert "answers are simulated" in stderr
