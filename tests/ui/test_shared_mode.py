"""Shared mode for real: the served studio refuses writes over plain HTTP without sign-in, hidden endpoints included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import httpx
import orjson
import pytest

from blossom_studio import settings
from blossom_studio.store import Store, open_store
from blossom_studio.ui import auth
from blossom_studio.ui.studio import LOCAL_REVIEWER, Studio
from tests.ui.test_app import ROOT, _free_port, _wait_for

USERS = "alice:wonder:land, bob:builder"  # a password may hold ':'; spaces around entries are dropped
NEW_RECORDS = [{"prompt": f"共享模式的问题 {i}", "response": f"answer {i}"} for i in range(3)]


@contextmanager
def _serve(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Run `python app.py` on a free port with the environment given, until the block ends."""
    port = _free_port()
    clean = {key: value for key, value in os.environ.items()
             if key not in (settings.AUTH_ENV, settings.SPACE_ID_ENV, settings.OAUTH_CLIENT_ID_ENV, "SYSTEM")}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env={**clean, **env},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.communicate(timeout=30)


def _upload_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.jsonl"
    path.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in NEW_RECORDS))
    return path


def _dependency(config: dict[str, Any], button: str) -> dict[str, Any]:
    """The event a button with this text triggers, found in the app's /config like the browser finds it."""
    ids = {c["id"] for c in config["components"] if c.get("type") == "button" and c["props"].get("value") == button}
    return next(d for d in config["dependencies"] if any(target[0] in ids for target in d["targets"]))


def _join(http: httpx.Client, base: str, fn_index: int, data: list[Any]) -> httpx.Response:
    return http.post(f"{base}/gradio_api/queue/join", json={
        "data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex[:12], "event_data": None})


def _outcome(http: httpx.Client, base: str, joined: httpx.Response, session_hash: str) -> dict[str, Any]:
    """Read the queue's event stream until the joined event completes; return its completion message."""
    event_id = joined.json()["event_id"]
    with http.stream("GET", f"{base}/gradio_api/queue/data", params={"session_hash": session_hash},
                     timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                    return message
    raise AssertionError("the event never completed")


def _call(http: httpx.Client, base: str, fn_index: int, data: list[Any]) -> dict[str, Any]:
    session_hash = uuid.uuid4().hex[:12]
    joined = http.post(f"{base}/gradio_api/queue/join", json={
        "data": data, "fn_index": fn_index, "session_hash": session_hash, "event_data": None})
    assert joined.status_code == 200, joined.text
    return _outcome(http, base, joined, session_hash)


def _file_data(path: str) -> dict[str, Any]:
    return {"path": path, "orig_name": "team.jsonl", "meta": {"_type": "gradio.FileData"}}


def test_with_password_sign_in_nothing_is_written_without_a_login_and_the_user_is_recorded_with_one(
        tmp_path: Path) -> None:
    db = tmp_path / "shared.duckdb"
    upload = _upload_file(tmp_path)
    with _serve(tmp_path, {settings.AUTH_ENV: USERS, settings.DB_ENV: str(db)}) as (base, _), \
            httpx.Client(timeout=30) as anonymous, httpx.Client(timeout=30) as alice:
        # Signed in, the browser's view: the config names every event, hidden ones (api_name=False) included.
        assert alice.post(f"{base}/login", data={"username": "alice", "password": "wonder:land"}).status_code == 200
        config = alice.get(f"{base}/config").json()
        importer, saver = _dependency(config, "Import"), _dependency(config, "Save")
        assert importer["api_visibility"] == "private" and saver["api_visibility"] == "private"

        # Not signed in: every route that could reach a handler answers 401 before the handler runs.
        assert anonymous.post(f"{base}/login", data={"username": "alice", "password": "wrong"}).status_code == 400
        assert anonymous.get(f"{base}/config").status_code == 401
        files = {"files": ("team.jsonl", upload.read_bytes(), "application/octet-stream")}
        assert anonymous.post(f"{base}/gradio_api/upload", files=files).status_code == 401
        for fn_index, data in ((importer["id"], [[_file_data(str(upload))], "anon"]),
                               (saver["id"], ["anon-selection", "zh:en=1:1", 4, 0, "(all sources)"])):
            assert _join(anonymous, base, fn_index, data).status_code == 401
        for name in ("page_samples", importer["api_name"], saver["api_name"]):
            assert anonymous.post(f"{base}/gradio_api/call/{name}", json={"data": []}).status_code == 401

        # Signed in: the hidden import endpoint, called by its fn_index, imports; the selection records alice.
        uploaded = alice.post(f"{base}/gradio_api/upload", files=files).json()
        done = _call(alice, base, importer["id"], [[_file_data(uploaded[0])], "team"])
        assert done["success"], done
        assert "3 imported" in done["output"]["data"][0]
        saved = {}
        for _ in range(40):  # the background profiler labels the languages the rebalance needs within seconds
            saved = _call(alice, base, saver["id"], ["team-pick", "zh:en=1:1", 4, 0, "(all sources)"])
            if "Saved selection" in str(saved["output"]["data"][0]):
                break
        assert "Saved selection" in str(saved["output"]["data"][0]), saved

        from gradio_client import Client

        client = Client(base, auth=("bob", "builder"), verbose=False)
        _, status, _ = client.predict(1, "共享模式", "(all sources)", api_name="/page_samples")
        assert "3 samples" in status
    with open_store(db) as store:
        assert store.query("SELECT count(*) FROM samples WHERE source = 'team'")[0][0] == 3
        assert store.query("SELECT count(*) FROM samples WHERE source = 'anon'")[0][0] == 0
        assert store.query("SELECT name, created_by FROM selections") == [("team-pick", "alice")]


def test_a_space_without_sign_in_is_read_only_with_a_notice_and_refuses_hidden_writes(tmp_path: Path) -> None:
    db = tmp_path / "space.duckdb"
    upload = _upload_file(tmp_path)
    with _serve(tmp_path, {settings.SPACE_ID_ENV: "team/blossom", settings.DB_ENV: str(db)}) as (base, _), \
            httpx.Client(timeout=30) as visitor:
        config = visitor.get(f"{base}/config").json()  # no sign-in at all: anyone may look
        notices = " ".join(str(c["props"].get("value")) for c in config["components"] if c.get("type") == "markdown")
        assert "This Space is read-only" in notices and "hf_oauth: true" in notices
        assert "ephemeral storage" in notices  # the database is not under /data
        importer = _dependency(config, "Import")
        uploaded = visitor.post(f"{base}/gradio_api/upload", files={
            "files": ("team.jsonl", upload.read_bytes(), "application/octet-stream")}).json()
        refused = _call(visitor, base, importer["id"], [[_file_data(uploaded[0])], "team"])
        assert refused["success"] is False
        assert "read-only" in refused["output"]["error"]
    with open_store(db) as store:
        assert store.query("SELECT count(*) FROM samples WHERE source = 'team'")[0][0] == 0
        assert store.query("SELECT count(*) FROM samples")[0][0] == 100  # the bundled sample only


def _request(username: str | None = None, session: dict[str, Any] | None = None) -> gr.Request:
    scope: dict[str, Any] = {"type": "http"}
    if session is not None:
        scope["session"] = session
    return gr.Request(request=SimpleNamespace(scope=scope), username=username)


def _oauth(name: str, expires_in: float = 3600) -> dict[str, Any]:
    import time

    return {"oauth_info": {"userinfo": {"preferred_username": name}, "expires_at": time.time() + expires_in}}


def test_the_writer_is_the_signed_in_user_and_nobody_writes_without_one_in_shared_mode(store: Store) -> None:
    local = Studio(store=store)
    assert local.writer(None) == LOCAL_REVIEWER and local.writer(_request("ana")) == "ana"
    password = Studio(store=store, shared=True)
    assert password.writer(_request("ana")) == "ana"
    with pytest.raises(gr.Error, match="Sign in first"):
        password.writer(_request())
    with pytest.raises(gr.Error, match="Sign in first"):
        password.writer(None)
    oauth = Studio(store=store, shared=True, oauth=True)
    assert oauth.writer(_request(session=_oauth("hf-user"))) == "hf-user"
    for session in ({}, _oauth("late", expires_in=-1), {"oauth_info": {"userinfo": {}}}):
        with pytest.raises(gr.Error, match="Sign in first"):
            oauth.writer(_request(session=session))
    assert password.user(_request(session=_oauth("hf-user"))) is None  # sessions count only with OAuth on
    locked = Studio(store=store, shared=True, read_only=auth.READ_ONLY_ERROR)
    with pytest.raises(gr.Error, match="read-only"):
        locked.writer(_request("ana"))


def test_access_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (settings.AUTH_ENV, settings.SPACE_ID_ENV, settings.OAUTH_CLIENT_ID_ENV):
        monkeypatch.delenv(name, raising=False)
    assert auth.decide_access() == auth.Access("local")
    monkeypatch.setenv(settings.SPACE_ID_ENV, "team/blossom")
    locked = auth.decide_access()
    assert locked.mode == "read_only" and locked.shared and locked.refusal == auth.READ_ONLY_ERROR
    assert "hf_oauth: true" in (locked.notice or "") and settings.AUTH_ENV in (locked.notice or "")
    monkeypatch.setenv(settings.OAUTH_CLIENT_ID_ENV, "client-id")
    monkeypatch.setattr(auth, "_oauth_installed", lambda: True)
    assert auth.decide_access() == auth.Access("oauth")
    monkeypatch.setattr(auth, "_oauth_installed", lambda: False)
    assert auth.decide_access().refusal == auth.OAUTH_MISSING_ERROR
    monkeypatch.setenv(settings.AUTH_ENV, "ana:pw")  # explicit users win, on a Space too
    assert auth.decide_access() == auth.Access("password", (("ana", "pw"),))
    monkeypatch.setenv(settings.AUTH_ENV, "ana")
    with pytest.raises(settings.SettingsError, match="entry 1 has no ':'"):
        auth.decide_access()


def test_a_malformed_auth_variable_stops_serve_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    env = {**os.environ, settings.AUTH_ENV: "ana:pw,bob", settings.DB_ENV: str(tmp_path / "never.duckdb")}
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: BLOSSOM_STUDIO_AUTH entry 2 has no ':'; "
                                   "write BLOSSOM_STUDIO_AUTH=user:password,user2:password2")
    assert "pw" not in done.stderr and not (tmp_path / "never.duckdb").exists()


def test_the_app_shows_the_sign_in_that_the_access_mode_needs(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from blossom_studio.ui.app import build_app

    monkeypatch.delenv(settings.SPACE_ID_ENV, raising=False)

    def markdown(demo: gr.Blocks) -> str:
        return " ".join(str(block.value) for block in demo.blocks.values() if isinstance(block, gr.Markdown))

    import gradio.routes

    attached: list[Any] = []
    monkeypatch.setattr(gradio.routes, "attach_oauth", attached.append)  # off a Space it needs a local HF login
    oauth = build_app(store, access=auth.Access("oauth"))
    assert oauth.expects_oauth and attached  # Gradio adds /login/huggingface, /login/callback and the sessions
    password = build_app(store, access=auth.Access("password", (("ana", "pw"),)))
    assert not password.expects_oauth and "read-only" not in markdown(password)
    locked = build_app(store, access=auth.Access("read_only", notice=auth.READ_ONLY_NOTICE,
                                                 refusal=auth.READ_ONLY_ERROR))
    assert not locked.expects_oauth and "This Space is read-only" in markdown(locked)
    assert "ephemeral" not in markdown(locked)  # not on a Space
    monkeypatch.setenv(settings.SPACE_ID_ENV, "team/blossom")
    assert "ephemeral storage" in markdown(build_app(store))
