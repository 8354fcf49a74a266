"""A real tidepool for the tests: the built CLI's ``up`` on a free loopback port, with a temp home and its admin token.

Builds nothing: ``npm run build`` (which ``npm test`` runs first) must have made packages/server/dist.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tidepool import Client, Sandbox

REPO = Path(__file__).resolve().parents[3]
CLI = REPO / "packages" / "server" / "dist" / "cli" / "main.js"
START_LIMIT_S = 60.0


@dataclass
class Server:
    url: str
    token: str
    home: Path

    def client(self) -> Client:
        return Client(self.url, self.token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(proc: subprocess.Popen[bytes], url: str, home: Path) -> str:
    token_file = home / "admin.token"
    deadline = time.monotonic() + START_LIMIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"tidepool up exited with {proc.returncode}; see {home}/server.log")
        if token_file.exists():
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return token_file.read_text().strip()
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"tidepool did not start within {START_LIMIT_S} s; see {home}/server.log")


def _destroy_everything(server: Server) -> None:
    """Delete what the tests left (sandboxes in any state, then snapshots, which keep the disk pool mounted)."""
    with server.client() as c:
        for state in ("running", "paused", "starting", "stopped"):
            for sbx in c.list_sandboxes(state=state, limit=1000)["items"]:
                c.delete_sandbox(id=sbx["id"])
        for snap in c.list_snapshots(limit=1000)["items"]:
            c.delete_snapshot(id=snap["id"])


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, cgroups, overlayfs); CI runs as root")
    if not CLI.exists():
        pytest.fail(f"{CLI} is not built; run `npm run build` (npm test does it first)")
    home = Path(tempfile.mkdtemp(prefix="tidepool-py-"))
    cgroup = f"tp-py-{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # An explicit minimal environment, like every child the project starts.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TIDEPOOL_HOME": str(home), "TIDEPOOL_CGROUP_NAME": cgroup, "TIDEPOOL_ROUTER_PORT": "0", "TIDEPOOL_LOG_LEVEL": "warn"}
    log = open(home / "server.log", "wb")
    proc = subprocess.Popen(["node", str(CLI), "up", "--port", str(port), "--host", "127.0.0.1"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    srv: Server | None = None
    try:
        srv = Server(url, _wait_ready(proc, url, home), home)
        yield srv
    finally:
        try:
            if srv is not None and proc.poll() is None:
                _destroy_everything(srv)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
            for base in _cgroup_dirs(cgroup):
                for d in sorted(base.rglob("*"), key=lambda p: -len(p.parts)):
                    if d.is_dir():
                        d.rmdir()
                base.rmdir()
            if str(home) not in Path("/proc/mounts").read_text():
                shutil.rmtree(home, ignore_errors=True)


def _cgroup_dirs(name: str) -> list[Path]:
    root = Path("/sys/fs/cgroup")
    return [p for p in [root / name, *(d / name for d in root.iterdir() if d.is_dir())] if p.is_dir()]


@pytest.fixture
def tp(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """``TIDEPOOL_URL`` / ``TIDEPOOL_TOKEN`` as a user would set them (tests of explicit arguments unset them)."""
    monkeypatch.setenv("TIDEPOOL_URL", server.url)
    monkeypatch.setenv("TIDEPOOL_TOKEN", server.token)
    return server


@pytest.fixture(scope="module")
def sbx(server: Server) -> Iterator[Sandbox]:
    """One sandbox shared by a module's tests (creating one per test would only cost time)."""
    with Sandbox.create(timeout_ms=600_000, api_url=server.url, token=server.token) as s:
        yield s
