"""Settings: the shared studio's users from BLOSSOM_STUDIO_AUTH, and where the database lives on a Space."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from blossom_studio import settings

SECRET = "s3cr3t-Pa55"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.AUTH_ENV, settings.DB_ENV, settings.SPACE_ID_ENV, settings.OAUTH_CLIENT_ID_ENV):
        monkeypatch.delenv(name, raising=False)


def test_auth_users_parse_pairs_with_colons_in_passwords_and_spaces_around(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.auth_users() == []
    assert settings.auth_users("  ") == []
    assert settings.auth_users("ana:pw") == [("ana", "pw")]
    assert settings.auth_users(" ana : a:b:c , 李雷:密码 ") == [("ana", "a:b:c"), ("李雷", "密码")]
    monkeypatch.setenv(settings.AUTH_ENV, "ana:one,ben:two")
    assert settings.auth_users() == [("ana", "one"), ("ben", "two")]


@pytest.mark.parametrize(("value", "message"), [
    (f"ana:{SECRET},ben", "BLOSSOM_STUDIO_AUTH entry 2 has no ':'; write BLOSSOM_STUDIO_AUTH=user:password,"
                          "user2:password2"),
    (f"ana:{SECRET},,ben:x", "BLOSSOM_STUDIO_AUTH entry 2 is empty; write BLOSSOM_STUDIO_AUTH=user:password,"
                             "user2:password2"),
    (f"ana:{SECRET},", "BLOSSOM_STUDIO_AUTH entry 2 is empty;"),
    (f":{SECRET}", "BLOSSOM_STUDIO_AUTH entry 1 has no user name before ':';"),
    ("ana: ", "BLOSSOM_STUDIO_AUTH entry 1 (user 'ana') has an empty password;"),
    (f"ana:{SECRET},ben:x,ana:{SECRET}2", "BLOSSOM_STUDIO_AUTH names user 'ana' twice (entries 1 and 3); give each "
                                          "user one entry"),
])
def test_malformed_auth_entries_are_named_by_position_without_their_passwords(value: str, message: str) -> None:
    with pytest.raises(settings.SettingsError) as error:
        settings.auth_users(value)
    assert str(error.value).startswith(message)
    assert SECRET not in str(error.value)
    assert isinstance(error.value, ValueError)


def test_on_a_space_the_database_defaults_to_persistent_storage_when_there_is_some(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = tmp_path / "data"
    monkeypatch.setattr(settings, "SPACE_STORAGE", storage)
    assert settings.db_path() == settings.DEFAULT_DB_PATH and not settings.on_space()
    monkeypatch.setenv(settings.SPACE_ID_ENV, "team/blossom")
    assert settings.db_path() == settings.DEFAULT_DB_PATH  # no persistent storage: the bundled data folder
    assert settings.ephemeral_storage(settings.db_path())
    storage.mkdir()
    assert settings.db_path() == storage / "studio.duckdb"
    assert not settings.ephemeral_storage(storage / "studio.duckdb")
    assert not settings.ephemeral_storage(storage / "team" / "x.duckdb")
    assert settings.ephemeral_storage(tmp_path / "data-other" / "studio.duckdb")
    monkeypatch.setenv(settings.DB_ENV, str(tmp_path / "chosen.duckdb"))
    assert settings.db_path() == tmp_path / "chosen.duckdb"  # the variable always wins
    assert settings.db_path("explicit.duckdb") == Path("explicit.duckdb")
    storage.chmod(0o500)
    try:
        monkeypatch.delenv(settings.DB_ENV)
        if not os.access(storage, os.W_OK):  # root ignores the mode bits
            assert settings.db_path() == settings.DEFAULT_DB_PATH
    finally:
        storage.chmod(0o700)


def test_ephemeral_storage_is_only_a_space_concern(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not settings.ephemeral_storage(Path("/tmp/studio.duckdb"))
    monkeypatch.setenv(settings.SPACE_ID_ENV, "team/blossom")
    assert settings.ephemeral_storage(Path("/tmp/studio.duckdb"))
    assert not settings.ephemeral_storage(Path("/data/studio.duckdb"))
    assert not settings.space_oauth()
    monkeypatch.setenv(settings.OAUTH_CLIENT_ID_ENV, "client")
    assert settings.space_oauth()
