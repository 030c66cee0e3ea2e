"""The roster: models as data, validated at load with messages that name the model and the fix, and no keys in it."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

import pytest

from blossom_studio.llm.roster import (
    MODEL_KEYS,
    NO_KEY,
    ModelSpec,
    Roster,
    RosterError,
    load_roster,
    parse_model,
    parse_roster,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "models.example.toml"
GOOD = {"base_url": "https://api.example.com/v1", "model": "example-chat"}


def roster_of(**table: Any) -> Roster:
    """Parse a roster with one model called "m" whose table is GOOD updated with `table`."""
    return parse_roster({"models": {"m": {**GOOD, **table}}})


def error_of(**table: Any) -> str:
    """Return the RosterError message for a model "m" with GOOD updated by `table` (None values are removed)."""
    merged = {key: value for key, value in {**GOOD, **table}.items() if value is not None}
    with pytest.raises(RosterError) as caught:
        parse_roster({"models": {"m": merged}})
    return str(caught.value)


def fake_key(prefix: str, length: int = 40) -> str:
    """A random key-shaped string (never a real key)."""
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


# --- the example and a valid roster -------------------------------------------------------------------------------


def test_example_roster_loads_with_every_documented_model() -> None:
    roster = load_roster(EXAMPLE)
    assert roster.path == EXAMPLE
    assert roster.names() == ["deepseek", "qwen", "gemini", "local", "simulator-a", "simulator-b", "simulator-c"]
    deepseek = roster.get("deepseek")
    assert deepseek.base_url == "https://api.deepseek.com/v1"
    assert deepseek.model == "deepseek-chat"
    assert deepseek.api_key_env == "DEEPSEEK_API_KEY"
    assert (deepseek.max_concurrency, deepseek.rpm) == (32, 600)
    assert dict(deepseek.params) == {"temperature": 0.7, "max_tokens": 2048}
    assert roster.get("local").api_key_env is None
    assert roster.get("local").api_key() == NO_KEY
    assert [roster.get(f"simulator-{x}").model for x in "abc"] == ["fake-a", "fake-b", "fake-c"]


def test_valid_model_gets_defaults_and_normalised_fields() -> None:
    spec = parse_roster(
        {"models": {"m": {"base_url": "http://127.0.0.1:8000/v1/", "model": "  qwen  ", "timeout": 30}}}
    ).get("m")
    assert spec == ModelSpec(name="m", base_url="http://127.0.0.1:8000/v1", model="qwen", timeout=30.0)
    assert isinstance(spec.timeout, float)
    assert (spec.max_concurrency, spec.rpm, spec.max_retries, dict(spec.params)) == (8, None, 6, {})


def test_all_settings_are_read() -> None:
    spec = roster_of(
        api_key_env="EXAMPLE_API_KEY", max_concurrency=3, rpm=90, timeout=2.5, max_retries=0,
        params={"temperature": 0.2, "max_tokens": 64, "top_p": 0.9},
    ).get("m")
    assert (spec.api_key_env, spec.max_concurrency, spec.rpm, spec.timeout, spec.max_retries) == (
        "EXAMPLE_API_KEY", 3, 90, 2.5, 0,
    )
    assert dict(spec.params) == {"temperature": 0.2, "max_tokens": 64, "top_p": 0.9}


def test_roster_keeps_file_order_and_get_explains_unknown_names(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.zeta]\nbase_url = "http://h/v1"\nmodel = "z"\n[models.alpha]\nbase_url = "http://h/v1"\nmodel = "a"\n',
        encoding="utf-8",
    )
    roster = load_roster(path)
    assert roster.names() == ["zeta", "alpha"]
    with pytest.raises(RosterError) as caught:
        roster.get("beta")
    message = str(caught.value)
    assert "'beta'" in message
    assert "alpha, zeta" in message
    assert str(path) in message


# --- each mistake is refused with the model's name and the fix -----------------------------------------------------


def test_missing_base_url_names_model_and_shows_an_example_url() -> None:
    message = error_of(base_url=None)
    assert "model 'm'" in message
    assert "base_url must be an http(s) URL" in message
    assert '"https://api.deepseek.com/v1"' in message


@pytest.mark.parametrize("url", ["api.deepseek.com/v1", "ftp://host/v1", "https://", "http://has space/v1", "", 42])
def test_bad_base_url_is_refused(url: object) -> None:
    message = error_of(base_url=url)
    assert "model 'm'" in message
    assert "base_url must be an http(s) URL" in message


@pytest.mark.parametrize("model", ["", "   ", None, 7])
def test_empty_or_missing_model_is_refused_with_an_example(model: object) -> None:
    message = error_of(model=model)
    assert "model 'm'" in message
    assert 'model = "deepseek-chat"' in message


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [("max_concurency", "max_concurrency"), ("base-url", "base_url"), ("api_key_name", "api_key_env"),
     ("max_retry", "max_retries"), ("param", "params")],
)
def test_unknown_setting_gets_a_did_you_mean(key: str, suggestion: str) -> None:
    message = error_of(**{key: 1})
    assert "model 'm'" in message
    assert f"unknown setting {key!r}" in message
    assert f"did you mean {suggestion!r}?" in message


def test_unknown_setting_without_a_close_match_lists_the_allowed_ones() -> None:
    message = error_of(colour="blue")
    assert "unknown setting 'colour'" in message
    assert "allowed: api_key_env, base_url, max_concurrency, max_retries, model, params, rpm, timeout" in message


def test_api_key_in_the_file_is_refused_without_echoing_it() -> None:
    key = fake_key("sk-proj-")
    message = error_of(api_key=key)
    assert "model 'm'" in message
    assert "keys never go in the roster file" in message
    assert 'api_key_env = "SOME_API_KEY"' in message
    assert key not in message
    assert key[8:20] not in message


@pytest.mark.parametrize("prefix", ["sk-", "sk-proj-", "sk-ant-api03-", "xai-"])
def test_api_key_env_that_is_a_dashed_key_is_refused_without_echoing_it(prefix: str) -> None:
    key = fake_key(prefix)
    message = error_of(api_key_env=key)
    assert "model 'm'" in message
    assert "NAME of an environment variable" in message
    assert "not the key itself" in message
    assert key not in message
    assert key[len(prefix) : len(prefix) + 12] not in message


@pytest.mark.parametrize("prefix", ["hf_", "gsk_", "sk_live_"])
def test_api_key_env_that_is_an_underscore_key_is_refused_without_echoing_it(prefix: str) -> None:
    """Hugging Face (hf_...), Groq (gsk_...) and similar keys are valid identifiers; they must still be refused."""
    key = fake_key(prefix, 37)
    with pytest.raises(RosterError) as caught:
        roster_of(api_key_env=key)
    message = str(caught.value)
    assert "model 'm'" in message
    assert key not in message


@pytest.mark.parametrize("env", ["MY KEY", "1KEY", "KEY-NAME", "", 5, True])
def test_api_key_env_must_be_an_environment_variable_name(env: object) -> None:
    message = error_of(api_key_env=env)
    assert "model 'm'" in message
    assert "api_key_env must be the NAME of an environment variable (letters, digits, _)" in message


def test_a_key_in_params_is_refused_without_echoing_it() -> None:
    """params are stored with every call and job; a key there would reach the database."""
    key = fake_key("sk-")
    with pytest.raises(RosterError) as caught:
        roster_of(params={"api_key": key})
    message = str(caught.value)
    assert "model 'm'" in message
    assert key not in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_concurrency", 0, "max_concurrency must be a whole number of at least 1, got 0"),
        ("max_concurrency", -4, "max_concurrency must be a whole number of at least 1, got -4"),
        ("max_concurrency", "8", "max_concurrency must be a whole number of at least 1, got '8'"),
        ("max_concurrency", 2.5, "max_concurrency must be a whole number of at least 1, got 2.5"),
        ("max_concurrency", True, "max_concurrency must be a whole number of at least 1, got True"),
        ("rpm", 0, "rpm must be a whole number of at least 1, got 0"),
        ("rpm", "600", "rpm must be a whole number of at least 1, got '600'"),
        ("rpm", 1.5, "rpm must be a whole number of at least 1, got 1.5"),
        ("timeout", 0, "timeout must be a number of seconds above 0, got 0"),
        ("timeout", -1.0, "timeout must be a number of seconds above 0, got -1.0"),
        ("timeout", "30", "timeout must be a number of seconds above 0, got '30'"),
        ("timeout", True, "timeout must be a number of seconds above 0, got True"),
        ("max_retries", -1, "max_retries must be a whole number of at least 0, got -1"),
        ("max_retries", 1.5, "max_retries must be a whole number of at least 0, got 1.5"),
        ("max_retries", "3", "max_retries must be a whole number of at least 0, got '3'"),
        ("max_retries", False, "max_retries must be a whole number of at least 0, got False"),
    ],
)
def test_bad_limit_types_are_refused_with_the_value(key: str, value: object, expected: str) -> None:
    message = error_of(**{key: value})
    assert message == f"model 'm': {expected}"


@pytest.mark.parametrize("reserved", ["model", "messages", "stream", "n"])
def test_params_set_by_the_studio_are_refused(reserved: str) -> None:
    message = error_of(params={"temperature": 0.1, reserved: "x"})
    assert message == f"model 'm': params.{reserved} is set by the studio; remove it from the roster"


def test_params_must_be_a_table() -> None:
    assert error_of(params="temperature=0.7") == "model 'm': params must be a table [models.m.params]"


def test_model_entry_must_be_a_table() -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster({"models": {"m": "https://api.example.com/v1"}})
    assert str(caught.value) == "model 'm': expected a table [models.m] with base_url and model"


@pytest.mark.parametrize("data", [{}, {"models": {}}, {"models": []}, {"models": "deepseek"}])
def test_roster_without_models_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster(data, Path("r.toml"))
    assert str(caught.value) == "roster r.toml lists no models; add a [models.NAME] table with base_url and model"


def test_unknown_top_level_key_points_to_models_tables() -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster({"model": {"m": GOOD}, "models": {"m": GOOD}})
    assert "unknown top-level key(s) ['model']" in str(caught.value)
    assert "models go under [models.NAME]" in str(caught.value)


def test_first_bad_model_is_named_among_good_ones() -> None:
    with pytest.raises(RosterError) as caught:
        parse_roster({"models": {"good": GOOD, "broken": {**GOOD, "rpm": 0}}})
    assert str(caught.value).startswith("model 'broken': rpm")


# --- the file ------------------------------------------------------------------------------------------------------


def test_bad_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text('[models.m]\nbase_url = "http://h/v1"\nmodel = deepseek-chat\n', encoding="utf-8")
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    message = str(caught.value)
    assert f"the roster file {path} is not valid TOML" in message
    assert "line 3" in message


def test_missing_file_points_to_the_example(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert str(caught.value) == f"the roster file {path} does not exist (see data/models.example.toml)"


@pytest.mark.parametrize("content", [None, b"\xff\xfe[models]\n"])
def test_unreadable_file_is_a_roster_error(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "models.toml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert f"cannot read the roster file {path}" in str(caught.value)


def test_file_errors_carry_the_path_into_model_errors(tmp_path: Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text("title = 'x'\n", encoding="utf-8")
    with pytest.raises(RosterError) as caught:
        load_roster(path)
    assert f"roster {path}: unknown top-level key(s) ['title']" in str(caught.value)


# --- the key lives in the environment only ---------------------------------------------------------------------------


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    key = fake_key("sk-test-")
    monkeypatch.setenv("BLOSSOM_ROSTER_TEST_KEY", key)
    spec = roster_of(api_key_env="BLOSSOM_ROSTER_TEST_KEY").get("m")
    assert spec.api_key() == key
    assert key not in repr(spec)


@pytest.mark.parametrize("value", [None, ""])
def test_missing_key_variable_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is None:
        monkeypatch.delenv("BLOSSOM_ROSTER_TEST_KEY", raising=False)
    else:
        monkeypatch.setenv("BLOSSOM_ROSTER_TEST_KEY", value)
    spec = roster_of(api_key_env="BLOSSOM_ROSTER_TEST_KEY").get("m")
    with pytest.raises(RosterError) as caught:
        spec.api_key()
    message = str(caught.value)
    assert "model 'm'" in message
    assert "the environment variable BLOSSOM_ROSTER_TEST_KEY is not set" in message
    assert "export BLOSSOM_ROSTER_TEST_KEY=..." in message


def test_public_view_has_names_and_limits_but_never_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    key = fake_key("sk-test-")
    monkeypatch.setenv("BLOSSOM_ROSTER_TEST_KEY", key)
    spec = roster_of(api_key_env="BLOSSOM_ROSTER_TEST_KEY", rpm=60, params={"temperature": 0.3}).get("m")
    public = spec.public()
    assert public["api_key_env"] == "BLOSSOM_ROSTER_TEST_KEY"
    assert public["name"] == "m"
    assert public["base_url"] == GOOD["base_url"]
    assert public["rpm"] == 60
    assert public["params"] == {"temperature": 0.3}
    assert not {"api_key", "key"} & set(public)
    assert key not in json.dumps(public)


def test_public_view_lists_every_setting_a_job_ran_with() -> None:
    """Jobs store public(): it should hold every roster setting (all but the key), max_retries included."""
    spec = roster_of(api_key_env="X_API_KEY", max_concurrency=2, rpm=30, timeout=9, max_retries=1).get("m")
    assert set(spec.public()) == {"name", *MODEL_KEYS}
    assert spec.public()["max_retries"] == 1


def test_parse_model_alone_validates_one_table() -> None:
    assert parse_model("solo", dict(GOOD)).name == "solo"
    with pytest.raises(RosterError, match="model 'solo'"):
        parse_model("solo", {"model": "x"})
