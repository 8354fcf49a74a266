"""Commands against a real tidepool: buffered, NDJSON-streamed, background, errors."""

from __future__ import annotations

import pytest

from conftest import Server
from tidepool import CommandExitError, Sandbox


def test_a_buffered_run_returns_exit_code_and_output(sbx: Sandbox) -> None:
    r = sbx.commands.run("echo out; echo err >&2; exit 3", envs={"GREETING": "hi"})
    assert (r["exitCode"], r["stdout"], r["stderr"]) == (3, "out\n", "err\n")
    r = sbx.commands.run(["sh", "-c", 'echo "$GREETING from $(pwd)"; cat'], envs={"GREETING": "hi"}, cwd="/tmp", stdin="piped")
    assert r["stdout"] == "hi from /tmp\npiped"


def test_throw_on_error_raises_command_exit_error(sbx: Sandbox) -> None:
    with pytest.raises(CommandExitError) as info:
        sbx.commands.run("echo boom >&2; exit 7", throw_on_error=True)
    assert info.value.exit_code == 7 and "boom" in str(info.value)


def test_streamed_output_reaches_the_callbacks_while_the_command_runs(sbx: Sandbox, tp: Server) -> None:
    # The command waits (bounded) for a file that only the stdout callback creates: it can finish only if
    # the first line reached us before the command ended, i.e. the output really streamed.
    sbx.files.remove("/tmp/go") if sbx.files.exists("/tmp/go") else None
    other = Sandbox.connect(sbx.sandbox_id)
    seen: list[tuple[str, str]] = []

    def on_stdout(data: str) -> None:
        seen.append(("out", data))
        if "ready" in data:
            other.files.write("/tmp/go", "")

    script = "echo ready; for i in $(seq 1 600); do [ -e /tmp/go ] && break; sleep 0.05; done; [ -e /tmp/go ] && echo released; echo warn >&2"
    r = sbx.commands.run(script, on_stdout=on_stdout, on_stderr=lambda d: seen.append(("err", d)))
    other.close()
    assert r["exitCode"] == 0
    assert "".join(d for k, d in seen if k == "out") == "ready\nreleased\n" == r["stdout"]
    assert r["stderr"] == "warn\n" and ("err", "warn\n") in seen


def test_a_background_command_can_be_listed_waited_for_and_killed(sbx: Sandbox) -> None:
    out: list[str] = []
    h = sbx.commands.run("echo start; sleep 0.3; echo end", background=True, on_stdout=out.append)
    assert h.pid > 0
    result = h.wait()
    assert result["exitCode"] == 0 and result["stdout"] == "start\nend\n" and "".join(out) == "start\nend\n"

    long = sbx.commands.run(["sleep", "600"], background=True)
    assert long.pid in [c["pid"] for c in sbx.commands.list()]
    assert long.kill() is True
    assert long.wait()["exitCode"] != 0
    assert sbx.commands.kill(999_999) is False
