"""Sample profiles: prompt and answer languages, the mismatch flag and its translation exemption, and the counts."""

from __future__ import annotations

from blossom_studio.profile.samples import asks_for_other_language, profile_sample


def test_a_chinese_question_answered_in_english_is_flagged() -> None:
    profile = profile_sample([("user", "中国的首都是哪里？"), ("assistant", "Beijing is the capital of China.")])
    assert (profile.lang, profile.prompt_lang, profile.response_lang) == ("zh", "zh", "en")
    assert profile.lang_mismatch
    assert profile.message_langs == ["zh", "en"]


def test_a_translation_request_is_not_a_mismatch() -> None:
    for prompt in ("请把这句话翻译成英文：今天天气很好", "用英文回答：什么是机器学习？",
                   "Translate into Chinese: the weather is nice today", "Answer in Chinese: what is 2+2?"):
        assert asks_for_other_language(prompt), prompt
    profile = profile_sample([("user", "请把这句话翻译成英文：今天天气很好"),
                              ("assistant", "The weather is nice today.")])
    assert (profile.prompt_lang, profile.response_lang, profile.lang_mismatch) == ("zh", "en", False)


def test_an_answer_without_language_is_no_mismatch() -> None:
    profile = profile_sample([("user", "3加5等于几？"), ("assistant", "8")])
    assert (profile.response_lang, profile.lang_mismatch) == ("unknown", False)


def test_candidates_answer_when_the_sample_has_no_assistant_turn() -> None:
    profile = profile_sample([("user", "中国的首都是哪里？"), ("candidate", "北京。"),
                              ("candidate", "The capital of China is Beijing.")])
    assert profile.message_roles == ["user", "candidate", "candidate"]
    assert profile.response_lang == "mixed"
    assert profile.lang_mismatch  # one of the two answers is in English
    assert profile.response_chars == len("北京。") + len("The capital of China is Beijing.")


def test_counts_leave_out_code_and_latex() -> None:
    profile = profile_sample([("system", "You are a helpful assistant."),
                              ("user", "求$\\frac{x^2+1}{x}$的最小值"),
                              ("assistant", "最小值是2。\n```python\nprint(min_value(x))\n```")])
    assert profile.zh_chars == len("求的最小值") + len("最小值是")
    assert profile.en_words == 4  # You, are, helpful, assistant ("a" is one letter)
    assert profile.chars == sum(profile.message_chars)
    assert profile.prompt_chars == len("求$\\frac{x^2+1}{x}$的最小值")
    assert profile.lang == "zh" and not profile.traditional


def test_traditional_text_is_marked() -> None:
    profile = profile_sample([("user", "這個問題應該怎麼解決？"), ("assistant", "請參考以下說明。")])
    assert (profile.lang, profile.lang_code, profile.traditional) == ("zh", "zh-Hant", True)


def test_a_prompt_in_code_takes_the_language_of_the_conversation() -> None:
    profile = profile_sample([("user", "```python\nprint(1)\n```"), ("assistant", "这段代码打印数字1。")])
    assert (profile.prompt_lang, profile.lang) == ("code", "zh")


def test_empty_samples_and_odd_text_profile_without_error() -> None:
    assert profile_sample([]).lang == "unknown"
    odd = profile_sample([("user", ""), ("assistant", "😀😀"), ("tool", "{}"), ("user", "中" * 1_000_000)])
    assert odd.prompt_lang == "zh" and odd.response_lang == "unknown"
