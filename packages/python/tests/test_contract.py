"""The generated models follow the contract; the SDK's type hints pass mypy --strict; request encoding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

import generate_models
from conftest import Server
from tidepool import ERROR_CODES, OPERATIONS
from tidepool._wire import HeadTail, NdjsonLines, encode
from tidepool.errors import ERROR_CLASSES, ApiError

PACKAGE = Path(__file__).resolve().parents[1]
CHECKED_IN = PACKAGE / "src" / "tidepool" / "_generated.py"


def test_generated_models_match_the_servers_openapi(tp: Server) -> None:
    """Regenerate from the running server's /openapi.json (the current contract): any drift fails here."""
    live = httpx.get(f"{tp.url}/openapi.json", timeout=30).json()
    assert generate_models.generate(live) == CHECKED_IN.read_text(), "run: python packages/python/scripts/generate_models.py"


def test_generated_models_match_the_openapi_snapshot() -> None:
    assert generate_models.main(["--check"]) == 0


def test_every_server_error_code_has_a_subclass() -> None:
    assert set(ERROR_CODES) <= set(ERROR_CLASSES)
    assert all(ERROR_CLASSES[c].code == c for c in ERROR_CLASSES)


def test_type_hints_pass_mypy_strict() -> None:
    run = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(PACKAGE / "pyproject.toml")], cwd=PACKAGE, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_encode_puts_path_params_in_the_path_and_the_rest_in_query_or_body() -> None:
    get = encode("http://h", "listSandboxes", {"metadata": {"a b": "c&d"}, "state": "running", "limit": 5, "nextToken": None})
    assert get.url == "http://h/v1/sandboxes?metadata.a%20b=c%26d&state=running&limit=5" and get.body is None
    post = encode("http://h", "exec", {"id": "sbx_abcdefg", "cmd": ["ls"]})
    assert post.url == "http://h/v1/sandboxes/sbx_abcdefg/exec" and post.body == b'{"cmd":["ls"]}'
    raw = encode("http://h", "writeFile", {"id": "sbx_abcdefg", "path": "/tmp/x", "body": b"\x00"})
    assert (raw.url, raw.body, raw.content_type) == ("http://h/v1/sandboxes/sbx_abcdefg/files?path=%2Ftmp%2Fx", b"\x00", "application/octet-stream")
    listed = encode("http://h", "listFiles", {"id": "sbx_abcdefg", "path": "/", "list": "0"})
    assert listed.url.endswith("?path=%2F&list=1")
    with pytest.raises(ApiError) as info:
        encode("http://h", "getSandbox", {})
    assert info.value.code == "invalid_request"
    assert set(OPERATIONS) >= {"createSandbox", "exec", "buildTemplate", "createClone", "runAction", "listInsightTests"}


def test_ndjson_lines_split_across_chunks_and_utf8_boundaries() -> None:
    lines = NdjsonLines()
    encoded = '{"stream":"stdout","data":"é"}\n{"exitCode":0}\n'.encode()
    cut = encoded.index(b"\xc3") + 1  # inside the two bytes of é
    assert lines.feed(encoded[:cut]) == []
    assert lines.feed(encoded[cut:]) == [{"stream": "stdout", "data": "é"}, {"exitCode": 0}]
    with pytest.raises(ApiError):
        NdjsonLines().feed(b"not json\n")


def test_head_tail_keeps_both_ends() -> None:
    ht = HeadTail(10)
    for chunk in ["abcd", "efgh", "ijkl", "mnop"]:
        ht.push(chunk)
    assert ht.truncated and ht.text() == "abcde" + "lmnop"


def test_the_langchain_style_example_runs(tp: Server) -> None:
    example = PACKAGE.parents[1] / "examples" / "python" / "langchain_tool.py"
    env = {"PATH": "/usr/bin:/bin", "TIDEPOOL_URL": tp.url, "TIDEPOOL_TOKEN": tp.token, "PYTHONPATH": str(PACKAGE / "src")}
    run = subprocess.run([sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "hello from Linux" in run.stdout and "snippet" in run.stdout


def test_the_readme_example_runs(tp: Server, capsys: pytest.CaptureFixture[str]) -> None:
    readme = (PACKAGE.parents[1] / "README.md").read_text()
    section = readme.split("### Python SDK", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md (Python SDK)", "exec"), {})
    out = capsys.readouterr().out
    assert "b'\\x00\\x01\\x02\\x03'" in out and "not_found 404" in out
