"""One example per area beyond sandboxes: snapshots (fork, reset), templates, access, insights, data, actions."""

from __future__ import annotations

import pytest

from conftest import Server
from tidepool import Client, NotFoundError, Sandbox, Snapshot, Template


def test_snapshot_fork_and_reset(tp: Server) -> None:
    with Sandbox.create(timeout_ms=120_000) as sbx:
        sbx.files.write("/home/user/state.txt", "v1")
        snap = sbx.create_snapshot(labels={"step": "v1"})
        assert snap["id"] in [s["id"] for s in Snapshot.list(query={"sandbox_id": sbx.sandbox_id}).items()]
        forks = sbx.fork(count=2)
        try:
            assert len(forks) == 2 and all(f.files.read("/home/user/state.txt") == "v1" for f in forks)
        finally:
            for f in forks:
                f.kill()
        sbx.files.write("/home/user/state.txt", "v2")
        sbx.reset(to=snap["id"])
        assert sbx.files.read("/home/user/state.txt") == "v1"
        sbx.reset()  # to its start: the template, without the file
        assert not sbx.files.exists("/home/user/state.txt")
    assert Snapshot.delete(snap["id"]) is True
    with pytest.raises(NotFoundError):
        Snapshot.get(snap["id"])


def test_a_template_builds_with_streamed_progress_and_a_sandbox_starts_from_it(tp: Server) -> None:
    progress: list[dict[str, object]] = []
    spec = {"name": "py-sdk-test", "steps": [{"copy": {"path": "/etc/py-sdk", "content": "built\n"}}, {"run": "echo step two > /etc/py-sdk-2"}]}
    t = Template.build(spec, on_progress=progress.append)
    try:
        assert t["name"] == "py-sdk-test" and progress and all("phase" in p for p in progress)
        with Sandbox.create("py-sdk-test", timeout_ms=60_000) as sbx:
            assert sbx.commands.run("cat /etc/py-sdk /etc/py-sdk-2")["stdout"] == "built\nstep two\n"
    finally:
        Template.delete("py-sdk-test")
    with pytest.raises(NotFoundError):
        Template.get("py-sdk-test")


def test_templates_list_and_get(tp: Server) -> None:
    names = [t["name"] for t in Template.list().items()]
    assert "default" in names
    assert Template.get("default")["name"] == "default"


def test_access_whoami_and_typed_operation_methods(tp: Server) -> None:
    with Client() as c:
        me = c.whoami()
        assert "admin" in me["scopes"]
        assert isinstance(c.list_tokens()["items"], list)


def test_insights_from_a_junit_report(tp: Server) -> None:
    junit = '<testsuite name="s" tests="2"><testcase classname="m" name="ok" time="0.1"/><testcase classname="m" name="bad" time="0.2"><failure message="boom">trace</failure></testcase></testsuite>'
    with Client() as c:
        run = c.create_run(commit="a" * 40, branch="main")
        ingested = c.ingest_junit(id=run["id"], body=junit)
        assert ingested["tests"] == 2 and ingested["failures"] == 1
        tests = c.list_insight_tests(limit=50)["items"]
        assert {"ok", "bad"} <= {t["name"] for t in tests}


def test_data_and_actions_list(tp: Server) -> None:
    with Client() as c:
        assert c.list_data_sources()["items"] == [] and c.list_clones()["items"] == []
        actions = c.list_actions()["items"]
        assert actions and all("inputSchema" in a for a in actions)
