"""Tokens and word counts: jieba for Chinese, words for other scripts, template fields whole, the parallel helper."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from blossom_studio.profile import words
from blossom_studio.profile.words import count_texts, count_words, is_stat_word, tally_samples, token_lang, tokens
from blossom_studio.settings import CACHE_ENV, PROJECT_DIR


def test_chinese_is_cut_by_jieba() -> None:
    assert tokens("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert count_words("我爱北京天安门，今天天气很好。") == len(tokens("我爱北京天安门，今天天气很好。"))


def test_han_runs_get_the_words_of_jieba_cut(realdata: Path) -> None:
    lines = (realdata / "belle" / "eval_set.json").read_text(encoding="utf-8").splitlines()
    runs = [run for line in lines[:400] for run in re.findall("[\u4e00-\u9fd5]+", line)]
    assert len(runs) > 5000
    jieba_tokenizer = words.tokenizer()
    for run in runs:
        assert words._han_cutter()(run) == list(jieba_tokenizer.cut(run, HMM=True))


def test_english_words_are_lowercase_without_punctuation() -> None:
    assert tokens("The quick brown fox -- don't STOP!") == ["the", "quick", "brown", "fox", "don't", "stop"]
    assert count_words("The quick brown fox -- don't STOP!") == 6


def test_mixed_chinese_and_english() -> None:
    assert tokens("请用Python写一个quick sort函数") == ["请", "用", "python", "写", "一个", "quick", "sort", "函数"]
    assert count_words("请用Python写一个quick sort函数") == 8


def test_template_fields_stay_whole() -> None:
    assert tokens("Hello! I am {{name}}, made by {{ author }}.") == ["hello", "i", "am", "{{name}}", "made", "by",
                                                                   "{{author}}"]
    assert tokens("我是{{name}}，由{{author}}开发") == ["我", "是", "{{name}}", "由", "{{author}}", "开发"]
    assert count_words("I am {{name}}") == 3
    assert tokens("{{ }} {{") == []


@pytest.mark.parametrize("text", ["", "   \n\t", "😀🎉👍", "12345 67.89 1,000", "１２３", "，。！？……", "--- *** ###"])
def test_texts_without_words_count_zero(text: str) -> None:
    assert tokens(text) == []
    assert count_words(text) == 0


def test_letters_with_digits_are_words_but_numbers_are_not() -> None:
    assert tokens("GPT-4 has 3D snake_case names, 2024") == ["gpt", "has", "3d", "snake_case", "names"]


def test_rare_han_characters_do_not_fail() -> None:
    text = "㐀㐁𠀀𠀁豈更鿕鿖 中文"
    assert count_words(text) == len(tokens(text)) > 0


def test_count_words_is_the_length_of_tokens() -> None:
    texts = ["请你写出一个可以生成五个不同随机数的 Python 程序。\n```python\nimport random\nnums = []\n```",
             "Hello {{name}}! 你好，{{name}}。It's 2024; 今天是星期三 (Wednesday).", "x" * 10, "北京" * 3000]
    for text in texts:
        assert count_words(text) == len(tokens(text))


def test_a_megabyte_message_is_counted_in_reasonable_time() -> None:
    paragraph = "机器学习是人工智能的一个分支，Machine learning is a branch of AI. 它使用数据来训练模型！\n"
    text = paragraph * (1_000_000 // len(paragraph.encode()) + 1)
    han_only = "我们今天去公园散步然后吃饭" * 30_000  # one run of 390,000 Han characters, no punctuation
    words.tokenizer()
    started = time.perf_counter()
    assert count_words(text) > 100_000
    assert count_words(han_only) > 100_000
    assert time.perf_counter() - started < 30  # about 1.5 s on an idle core


def test_stopwords_single_latin_letters_and_long_tokens_stay_out_of_statistics() -> None:
    assert not is_stat_word("的")
    assert not is_stat_word("the")
    assert not is_stat_word("b")
    assert not is_stat_word("a" * 40)
    assert is_stat_word("数据")
    assert is_stat_word("米")
    assert is_stat_word("{{name}}")


def test_tally_counts_each_word_once_per_sample() -> None:
    counts, tally = tally_samples([["data data data", "数据和data"], ["more data"], []])
    assert counts == [[3, 3], [2], []]
    assert tally["data"] == 2
    assert tally["数据"] == 1
    assert "和" not in tally


def test_token_lang() -> None:
    assert token_lang("数据") == "zh"
    assert token_lang("data") == "en"
    assert token_lang("{{name}}") == "en"


def test_count_texts_small_input_stays_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pool(workers: int) -> None:
        raise AssertionError("a pool was started for a small input")

    monkeypatch.setattr(words, "open_pool", no_pool)
    assert count_texts(["我爱北京天安门", "hello world", ""], workers=2) == [4, 2, 0]


def test_count_texts_in_two_processes_matches_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["我爱北京天安门", "hello {{name}} world", "", "请用Python写一个quick sort函数", "😀"] * 40
    monkeypatch.setattr(words, "PARALLEL_MIN_CHARS", 0)
    assert count_texts(texts, workers=2) == [count_words(text) for text in texts]


def test_shared_chunks_come_back_in_order_from_a_started_worker() -> None:
    chunks = [[f"第{index}个 chunk {index}", "数据" * index] for index in range(40)]
    with words.open_pool(1) as pool:
        pool.submit(int).result()
        parts = words._share(chunks, pool, 4)
    assert parts == [[count_words(text) for text in chunk] for chunk in chunks]


def test_paddle_is_never_loaded() -> None:
    count_words("我爱北京天安门")
    assert not any(name.startswith("jieba.lac_small") or name == "paddle" for name in sys.modules)


def _run_python(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, CACHE_ENV: str(cache), "PYTHONPATH": str(PROJECT_DIR)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=PROJECT_DIR, check=False)


def test_jieba_cache_lives_in_the_settings_cache_folder_and_loads_quietly(tmp_path: Path) -> None:
    cache = tmp_path / "not" / "yet" / "there"
    code = ("from blossom_studio.profile.words import count_words, tokenizer\n"
            "print(count_words('我爱北京天安门'), tokenizer() is tokenizer())\n")
    first = _run_python(code, cache)  # builds the dictionary and writes the cache
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["4", "True"]
    assert first.stderr == ""  # jieba's "Building prefix dict..." lines are silenced
    assert (cache / "jieba.cache").is_file()
    second = _run_python(code, cache)  # loads the cache
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, "")


def test_an_uncreatable_cache_folder_falls_back_to_the_temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))
    monkeypatch.setattr(words, "_cut", None)  # a fresh once-per-process tokenizer; monkeypatch restores the old one
    monkeypatch.setattr(words, "_tokenizer", None)
    assert tokens("我爱北京天安门") == ["我", "爱", "北京", "天安门"]
    assert words.tokenizer().tmp_dir is None
    assert "cannot create the cache folder" in caplog.text
