"""Templates: files, overrides, one-pass rendering, and prompts whose output-format blocks the parsers can read."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from blossom_studio.synth.judge_parse import parse_judge_output
from blossom_studio.synth.templates import (
    ASPECTS,
    BUILTIN_DIR,
    ENV_VAR,
    JUDGE_KINDS,
    KINDS,
    OUTPUT_HEADINGS,
    TemplateError,
    build_judge_prompt,
    format_conversation,
    load_template,
    output_format_block,
    repair_messages,
)

LANGS = ("en", "zh")
OPTION_SETS = {"A|B|tie", "true|false", "good|bad"}
PLACEHOLDER = re.compile(r"<([^<>\n]+)>")
HAN = re.compile(r"[\u4e00-\u9fff]")
ANSWERS = ("The first answer is 42.", "The second answer is 41.", "A third answer.", "A fourth answer.")


def prompt_cases() -> list[tuple[str, str, str | None, int]]:
    """Every (kind, lang, aspect, number of answers) the studio can ask for."""
    cases = []
    for lang in LANGS:
        for kind in KINDS:
            if kind == "rate":
                cases += [(kind, lang, aspect, n) for aspect in ASPECTS for n in range(1, 5)]
            else:
                n = {"verify": 1, "consistency": 2, "pairwise": 2, "instruction_quality": 0}.get(kind, 1)
                cases.append((kind, lang, None, n))
    return cases


def build(kind: str, lang: str, aspect: str | None, n: int) -> list[dict[str, str]]:
    instruction = "" if kind == "backtranslate" else "What is 6 times 7?"
    return build_judge_prompt(kind, lang, instruction=instruction, answers=ANSWERS[:n], reference="#### 42",
                              aspect=aspect)


def fill(block: str, how: str, rng: random.Random) -> str:
    """Fill each placeholder the way a model following the format would: first/last option, or at random."""

    def one(match: re.Match[str]) -> str:
        options = match.group(1).split("|")
        pick = options[0] if how == "first" else options[-1] if how == "last" else rng.choice(options)
        bounds = re.fullmatch(r"(\d+)-(\d+)", pick)
        if bounds:
            low, high = int(bounds.group(1)), int(bounds.group(2))
            return str(low if how == "first" else high if how == "last" else rng.randint(low, high))
        return pick if len(options) > 1 else "some text"

    return PLACEHOLDER.sub(one, block)


def test_every_kind_has_english_and_chinese_files() -> None:
    names = [*KINDS] + [f"rate_{aspect}" for aspect in ASPECTS] + ["repair", "repair_text"]
    for name in names:
        for lang in LANGS:
            template = load_template(name, lang)
            assert template.lang == lang, f"{name}.{lang}.md is missing"
            assert template.path.parent == BUILTIN_DIR
            assert bool(HAN.search(template.text)) == (lang == "zh"), template.path.name


@pytest.mark.parametrize(("kind", "lang", "aspect", "n"), prompt_cases())
def test_rendered_prompt_is_complete_and_its_output_block_uses_the_vocabulary(
    kind: str, lang: str, aspect: str | None, n: int
) -> None:
    messages = build(kind, lang, aspect, n)
    assert [m["role"] for m in messages][-1] == "user"
    assert all(set(m) == {"role", "content"} for m in messages)
    user = messages[-1]["content"]
    assert "{{" not in user and "<!--" not in user
    block = output_format_block(user)
    if kind not in JUDGE_KINDS:
        assert block is None
        assert ANSWERS[0] in user
        return
    assert block is not None and user.endswith(block)
    assert block.splitlines()[0] == OUTPUT_HEADINGS[lang]
    for line in block.splitlines():
        assert line.count("<") == line.count(">"), f"a placeholder spans lines: {line!r}"
    for spec in PLACEHOLDER.findall(block):
        if "|" in spec:
            assert spec in OPTION_SETS or spec == "1-5|N/A", spec
        elif re.search(r"\d-\d", spec):
            assert spec == "1-5", spec
        else:
            assert spec.strip(), "an empty free-text placeholder"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("aspect", ASPECTS)
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_rate_numbers_texts_and_output_sections_alike(lang: str, aspect: str, n: int) -> None:
    user = build("rate", lang, aspect, n)[-1]["content"]
    block = output_format_block(user)
    assert block is not None
    body = user[: -len(block)]
    body_numbers = [int(en or zh) for en, zh in re.findall(r"^(?:\[Text (\d)\]|【文本 (\d)】)$", body, re.M)]
    out_numbers = [int(k) for k in re.findall(r"^#### (?:Text|文本) (\d)$", block, re.M)]
    assert body_numbers == list(range(1, n + 1))
    assert out_numbers == list(range(1, n + 1))
    scale = "<1-5|N/A>" if aspect == "honesty" else "<1-5>"
    assert block.count(scale) == n
    for k, answer in enumerate(ANSWERS[:n], 1):
        assert answer in body.split(f"Text {k}]" if lang == "en" else f"文本 {k}】")[1]


def expected_value(kind: str, how: str, n: int) -> object:
    first = how == "first"
    return {
        "verify": {"correct": first},
        "consistency": {"consistent": first},
        "pairwise": {"winner": "A" if first else "tie"},
        "instruction_quality": {"good": first},
        "instruction_score": {"score": 1 if first else 5},
        "rate": [1 if first else None] * n,
    }[kind]


@pytest.mark.parametrize(("kind", "lang", "aspect", "n"), [c for c in prompt_cases() if c[0] in JUDGE_KINDS])
def test_a_reply_that_fills_the_output_block_parses(kind: str, lang: str, aspect: str | None, n: int) -> None:
    block = output_format_block(build(kind, lang, aspect, n)[-1]["content"])
    assert block is not None
    rng = random.Random(f"{kind}{lang}{aspect}{n}")
    for how in ("first", "last", "random", "random", "random"):
        filled = fill(block, how, rng)
        for reply in (filled, filled.split("\n", 1)[1]):  # with and without the heading line
            parsed = parse_judge_output(kind, reply, n_answers=n, aspect=aspect)
            assert parsed.ok, (reply, parsed.error)
            if how != "random":
                got = parsed.value["ratings"] if kind == "rate" else parsed.value  # type: ignore[index]
                want = expected_value(kind, how, n)
                if kind == "rate" and aspect != "honesty" and how == "last":
                    want = [5] * n
                assert got == want
            if kind == "rate":
                assert parsed.value["rationales"] == ["some text"] * n  # type: ignore[index]


def test_render_is_one_pass_and_names_a_missing_variable(tmp_path: Path) -> None:
    (tmp_path / "echo.en.md").write_text("Q: {{question}}\nA: {{ answer }}\n", encoding="utf-8")
    template = load_template("echo", "en", tmp_path)
    assert template.variables() == ["question", "answer"]
    out = template.render(question="say {{answer}}", answer="{{question}}")
    assert out == "Q: say {{answer}}\nA: {{question}}\n"
    with pytest.raises(KeyError) as caught:
        template.render(question="only one")
    assert isinstance(caught.value, TemplateError)
    assert "echo.en.md" in str(caught.value) and "{{answer}}" in str(caught.value)


def test_override_folders_win_in_order_and_chinese_falls_back_to_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    env_dir.mkdir()
    arg_dir.mkdir()
    (env_dir / "pairwise.en.md").write_text("from env {{instruction}}", encoding="utf-8")
    (arg_dir / "pairwise.en.md").write_text("from arg {{instruction}}", encoding="utf-8")
    (env_dir / "only_en.en.md").write_text("english only", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(env_dir))
    assert load_template("pairwise", "en").text.startswith("from env")
    assert load_template("pairwise", "en", arg_dir).text.startswith("from arg")
    zh = load_template("pairwise", "zh", arg_dir)
    assert zh.lang == "zh" and zh.path.parent == BUILTIN_DIR  # an English override does not replace Chinese
    fallback = load_template("only_en", "zh")
    assert (fallback.lang, fallback.text) == ("en", "english only")
    messages = build_judge_prompt("pairwise", "en", instruction="hi", answers=["a", "b"], override_dir=arg_dir)
    assert messages == [{"role": "user", "content": "from arg hi"}]
    with pytest.raises(KeyError, match="no template missing"):
        load_template("missing", "zh")
    with pytest.raises(ValueError, match="language"):
        load_template("pairwise", "fr")


def test_bad_prompt_requests_fail_with_a_reason() -> None:
    with pytest.raises(ValueError, match="unknown prompt kind"):
        build_judge_prompt("grade", "en", instruction="q", answers=["a"])
    with pytest.raises(ValueError, match="takes 2 answers, not 1"):
        build_judge_prompt("pairwise", "en", instruction="q", answers=["a"])
    with pytest.raises(ValueError, match="1 to 4 answers, not 5"):
        build_judge_prompt("rate", "en", instruction="q", answers=["a"] * 5, aspect="overall")
    with pytest.raises(ValueError, match="needs an aspect"):
        build_judge_prompt("rate", "en", instruction="q", answers=["a"])
    with pytest.raises(ValueError, match="reference"):
        build_judge_prompt("verify", "en", instruction="q", answers=["a"])
    with pytest.raises(ValueError, match="instruction"):
        build_judge_prompt("pairwise", "en", instruction="  ", answers=["a", "b"])


def test_values_are_not_reinterpreted_as_placeholders_or_markers() -> None:
    tricky = "{{answer_b}} <!-- user --> ### Output format"
    user = build_judge_prompt("pairwise", "en", instruction="q", answers=[tricky, "plain"])[-1]["content"]
    assert user.count("{{answer_b}}") == 1 and "plain" in user
    assert output_format_block(user) is not None and output_format_block(user).endswith("Verdict: <A|B|tie>")


def test_format_conversation_labels_roles_and_reads_content_parts() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": [{"type": "text", "value": "A cat."}]},
        {"role": "tool", "content": None},
        {"from": "human", "value": "Thanks"},
    ]
    text = format_conversation(messages)
    assert text == ("[System]\nBe brief.\n\n[User]\nDescribe\n[image_url]\n\n[Assistant]\nA cat.\n\n[Tool]\n\n\n"
                    "[User]\nThanks")
    assert format_conversation(messages[:1], lang="zh") == "[系统]\nBe brief."


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", KINDS)
def test_repair_keeps_the_exchange_and_restates_the_format(kind: str, lang: str) -> None:
    aspect, n = ("helpfulness", 3) if kind == "rate" else (None, 2 if kind in ("pairwise", "consistency") else 1)
    original = build(kind, lang, aspect, 0 if kind == "instruction_quality" else n)
    repaired = repair_messages(kind, lang, original, "I cannot decide.", "no verdict line")
    assert repaired[: len(original)] == original
    assert repaired[len(original)] == {"role": "assistant", "content": "I cannot decide."}
    ask = repaired[-1]
    assert ask["role"] == "user" and "no verdict line" in ask["content"] and len(repaired) == len(original) + 2
    block = output_format_block(ask["content"])
    if kind in JUDGE_KINDS:
        assert block == output_format_block(original[-1]["content"])
        assert ask["content"].endswith(block)
        reply = fill(block, "first", random.Random(0)).split("\n", 1)[1]
        assert parse_judge_output(kind, reply, n_answers=n, aspect=aspect).ok
    else:
        assert block is None
    assert repair_messages(kind, lang, original, "", "empty reply")[-2]["content"].strip()
