"""Sandbox lifecycle, pagination and errors against a real tidepool."""

from __future__ import annotations

import time
import uuid

import httpx

import pytest

from conftest import Server, free_port
from tidepool import ApiError, ConflictError, Client, InvalidRequestError, NetworkError, NotFoundError, Sandbox, UnauthenticatedError


def test_create_from_the_environment_then_timeout_pause_resume_connect_kill(tp: Server) -> None:
    sbx = Sandbox.create(timeout_ms=120_000, envs={"FROM_CREATE": "yes"}, metadata={"who": "pytest"})
    try:
        assert sbx.info["state"] == "running" and sbx.info["metadata"] == {"who": "pytest"}
        assert sbx.commands.run("echo $FROM_CREATE")["stdout"] == "yes\n"
        sbx.set_timeout(300_000)
        assert sbx.info["timeoutMs"] == 300_000
        sbx.pause()
        assert sbx.get_info()["state"] == "paused"
        sbx.resume()
        assert sbx.is_running()
        again = Sandbox.connect(sbx.sandbox_id)
        assert again.sandbox_id == sbx.sandbox_id and again.commands.run("true")["exitCode"] == 0
        again.close()
        assert sbx.get_metrics()["memoryBytes"] > 0
    finally:
        sbx.kill()
    gone = Sandbox.connect(sbx.sandbox_id)
    assert gone.info["state"] == "stopped" and gone.info["reason"] == "killed_by_user"
    with pytest.raises(ConflictError) as stopped:
        gone.commands.run("true")
    assert stopped.value.code == "conflict"
    gone.close()


def test_list_iterates_over_pages(tp: Server) -> None:
    tag = uuid.uuid4().hex[:10]
    made = [Sandbox.create(timeout_ms=120_000, metadata={"suite": tag}) for _ in range(3)]
    try:
        pages = list(Sandbox.list(query={"metadata": {"suite": tag}, "state": "running"}, limit=2))
        assert [len(p) for p in pages] == [2, 1]
        ids = {s["id"] for s in Sandbox.list(query={"metadata": {"suite": tag}}, limit=2).items()}
        assert ids == {s.sandbox_id for s in made}
        assert list(Sandbox.list(query={"metadata": {"suite": "nobody-" + tag}})) == [[]]
    finally:
        for s in made:
            s.kill()


def test_errors_carry_the_stable_code(tp: Server) -> None:
    with pytest.raises(NotFoundError) as missing:
        Sandbox.connect("sbx_doesnotexist1")
    assert (missing.value.code, missing.value.status) == ("not_found", 404) and missing.value.request_id
    with pytest.raises(InvalidRequestError) as bad:
        Sandbox.create(timeout_ms=0)
    assert bad.value.code == "invalid_request" and bad.value.details
    with pytest.raises(UnauthenticatedError):
        Client(tp.url, "tp_not_a_real_token").whoami()
    with pytest.raises(NetworkError) as down:
        Client(f"http://127.0.0.1:{free_port()}", "x").whoami()
    assert down.value.code == "network_error"


def test_no_token_anywhere_is_an_unauthenticated_error(tp: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEPOOL_TOKEN")
    with pytest.raises(ApiError) as info:
        Sandbox.create()
    assert info.value.code == "unauthenticated" and "TIDEPOOL_TOKEN" in info.value.message


def test_get_host_reaches_a_server_inside_through_port_exposure(server: Server) -> None:
    with Sandbox.create(timeout_ms=120_000, api_url=server.url, token=server.token) as s:
        s.files.write("/tmp/www/index.html", "hello from inside\n")
        s.commands.run("python3 -m http.server --bind 127.0.0.1 --directory /tmp/www 8000", background=True)
        host = s.get_host(8000)
        assert host == f"8000-{s.sandbox_id}.sandbox.localhost:{httpx.URL(server.url).port}"
        got = None
        for _ in range(200):  # the server starts in the background: a bounded wait
            got = httpx.get(f"{server.url}/index.html", headers={"host": host, "authorization": f"Bearer {server.token}"})
            if got.status_code != 502:
                break
            time.sleep(0.05)
        assert got is not None and got.status_code == 200 and got.text == "hello from inside\n"
        assert httpx.get(f"{server.url}/index.html", headers={"host": host}).status_code == 401
