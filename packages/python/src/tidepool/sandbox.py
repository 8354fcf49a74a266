"""``Sandbox`` (sync): create, connect, list, and the sandbox's commands, files, snapshots and lifecycle."""

from __future__ import annotations

import builtins

from collections.abc import Callable, Iterator, Mapping, Sequence
from urllib.parse import urlsplit
from typing import Any, Generic, Literal, TypeVar, cast, overload

from ._generated import CommandInfo, ExecResult, FileEntry, SandboxMetrics, Snapshot as SnapshotInfo, Sandbox as SandboxInfo
from ._wire import DEFAULT_OUTPUT_LIMIT, HeadTail
from .client import Client
from .errors import CommandExitError, NotFoundError

T = TypeVar("T")
DEFAULT_COMMAND_TIMEOUT_MS = 60_000
REQUEST_MARGIN_S = 30.0
# Longer commands stream even without callbacks: a buffered answer only starts when the command ends.
STREAM_ABOVE_MS = 240_000
MAX_PAGES = 100_000
OutputCallback = Callable[[str], object]


class Paginator(Generic[T]):
    """Iterates a paginated list one page (a list of items) at a time; ``items()`` flattens it."""

    def __init__(self, fetch: Callable[[str | None], Mapping[str, Any]], on_done: Callable[[], None] | None = None) -> None:
        self._fetch = fetch
        self._on_done = on_done
        self.next_token: str | None = None
        self.has_next = True

    def next_items(self) -> list[T]:
        """The next page's items (``has_next`` turns False after the last one)."""
        if not self.has_next:
            return []
        page = self._fetch(self.next_token)
        self.next_token = page.get("nextToken") or None
        self.has_next = self.next_token is not None
        if not self.has_next and self._on_done:
            self._on_done()
        return list(page.get("items", []))

    def __iter__(self) -> Iterator[list[T]]:
        for _ in range(MAX_PAGES):
            if not self.has_next:
                return
            yield self.next_items()

    def items(self) -> Iterator[T]:
        for page in self:
            yield from page


def _client(client: Client | None, api_url: str | None, token: str | None) -> tuple[Client, bool]:
    return (client, False) if client is not None else (Client(api_url, token), True)


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class CommandHandle:
    """A command started with ``background=True``: ``wait()`` for its result, ``kill()`` it.

    Output callbacks given to ``run()`` receive the output while ``wait()`` streams it (the sync client has
    no background thread; ``AsyncSandbox`` behaves the same for symmetry)."""

    def __init__(self, client: Client, sandbox_id: str, pid: int, *, on_stdout: OutputCallback | None = None, on_stderr: OutputCallback | None = None, throw_on_error: bool = False, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self._client = client
        self.sandbox_id = sandbox_id
        self.pid = pid
        self._opts = (on_stdout, on_stderr, output_limit)
        self._throw = throw_on_error
        self._result: ExecResult | None = None

    def wait(self) -> ExecResult:
        """Wait for the command to end (streamed, so any duration is fine) and return its result."""
        if self._result is None:
            self._result = _streamed(self._client, "waitCommand", {"id": self.sandbox_id, "pid": self.pid}, *self._opts)
        if self._throw and self._result["exitCode"] != 0:
            raise CommandExitError(self._result)
        return self._result

    def kill(self) -> bool:
        """Kill the command and every process it started; False if it was not found."""
        return _kill(self._client, self.sandbox_id, self.pid)


class Commands:
    """``sbx.commands``: run commands in the sandbox."""

    def __init__(self, client: Client, sandbox_id: str) -> None:
        self._client = client
        self._id = sandbox_id

    @overload
    def run(self, cmd: str | Sequence[str], *, background: Literal[True], cwd: str | None = ..., envs: Mapping[str, str] | None = ..., user: Literal["user", "root"] | None = ..., stdin: str | None = ..., timeout_ms: int | None = ..., on_stdout: OutputCallback | None = ..., on_stderr: OutputCallback | None = ..., throw_on_error: bool = ..., output_limit: int = ..., request_timeout: float | None = ...) -> CommandHandle: ...
    @overload
    def run(self, cmd: str | Sequence[str], *, background: Literal[False] = ..., cwd: str | None = ..., envs: Mapping[str, str] | None = ..., user: Literal["user", "root"] | None = ..., stdin: str | None = ..., timeout_ms: int | None = ..., on_stdout: OutputCallback | None = ..., on_stderr: OutputCallback | None = ..., throw_on_error: bool = ..., output_limit: int = ..., request_timeout: float | None = ...) -> ExecResult: ...
    def run(self, cmd: str | Sequence[str], *, background: bool = False, cwd: str | None = None, envs: Mapping[str, str] | None = None, user: Literal["user", "root"] | None = None, stdin: str | None = None, timeout_ms: int | None = None, on_stdout: OutputCallback | None = None, on_stderr: OutputCallback | None = None, throw_on_error: bool = False, output_limit: int = DEFAULT_OUTPUT_LIMIT, request_timeout: float | None = None) -> ExecResult | CommandHandle:
        """Run a command: a string runs with ``/bin/sh -c``, a list is an argv. A non-zero exit is returned
        (check ``result["exitCode"]``) unless ``throw_on_error``. Output streams (NDJSON) to ``on_stdout`` /
        ``on_stderr`` when given; ``background=True`` returns a :class:`CommandHandle` at once."""
        input = _drop_none({"id": self._id, "cmd": cmd if isinstance(cmd, str) else list(cmd), "cwd": cwd, "envs": dict(envs) if envs else None, "user": user, "stdin": stdin, "timeoutMs": timeout_ms})
        if background:
            started = self._client.request("exec", {**input, "background": True}, timeout=request_timeout or REQUEST_MARGIN_S)
            return CommandHandle(self._client, self._id, int(started["pid"]), on_stdout=on_stdout, on_stderr=on_stderr, throw_on_error=throw_on_error, output_limit=output_limit)
        if on_stdout or on_stderr or (timeout_ms or 0) > STREAM_ABOVE_MS:
            result = _streamed(self._client, "exec", input, on_stdout, on_stderr, output_limit, request_timeout)
        else:
            wait_s = request_timeout or (timeout_ms or DEFAULT_COMMAND_TIMEOUT_MS) / 1000 + REQUEST_MARGIN_S
            result = cast(ExecResult, self._client.request("exec", input, timeout=wait_s))
        if throw_on_error and result["exitCode"] != 0:
            raise CommandExitError(result)
        return result

    def list(self) -> list[CommandInfo]:
        """Commands started in this sandbox, running or exited."""
        return self._client.list_commands(id=self._id)["items"]

    def kill(self, pid: int) -> bool:
        return _kill(self._client, self._id, pid)

    def connect(self, pid: int, *, on_stdout: OutputCallback | None = None, on_stderr: OutputCallback | None = None) -> CommandHandle:
        """A handle to a command started earlier, to wait for or kill it."""
        return CommandHandle(self._client, self._id, pid, on_stdout=on_stdout, on_stderr=on_stderr)


def _kill(client: Client, sandbox_id: str, pid: int) -> bool:
    try:
        client.kill_command(id=sandbox_id, pid=pid)
        return True
    except NotFoundError:
        return False


def _streamed(client: Client, op: str, input: Mapping[str, Any], on_stdout: OutputCallback | None, on_stderr: OutputCallback | None, limit: int, timeout: float | None = None) -> ExecResult:
    out, err = HeadTail(limit), HeadTail(limit)

    def on_line(line: Any) -> None:
        if "stream" not in line:
            return
        data = str(line.get("data", ""))
        if line["stream"] == "stdout":
            out.push(data)
            if on_stdout:
                on_stdout(data)
        else:
            err.push(data)
            if on_stderr:
                on_stderr(data)

    end = client.stream(op, input, on_line, timeout=timeout or REQUEST_MARGIN_S)
    return cast(ExecResult, {**end, "stdout": out.text(), "stderr": err.text(), "truncated": bool(end.get("truncated")) or out.truncated or err.truncated})


def _entry(stat: Any, path: str) -> FileEntry:
    entry = stat.get("entry") if isinstance(stat, dict) else None
    if entry is None:
        raise NotFoundError("not_found", f"{path}: the server reported no entry")
    return cast(FileEntry, entry)


class Files:
    """``sbx.files``: read, write, list, stat, remove, rename, make_dir."""

    def __init__(self, client: Client, sandbox_id: str) -> None:
        self._client = client
        self._id = sandbox_id

    @overload
    def read(self, path: str, *, format: Literal["text"] = ...) -> str: ...
    @overload
    def read(self, path: str, *, format: Literal["bytes"]) -> bytes: ...
    def read(self, path: str, *, format: Literal["text", "bytes"] = "text") -> str | bytes:
        """The file's content: text (UTF-8) by default, ``format="bytes"`` for binary."""
        data = cast(bytes, self._client.request("readFile", {"id": self._id, "path": path}))
        return data if format == "bytes" else data.decode("utf-8")

    def write(self, path: str, data: str | bytes) -> FileEntry:
        """Write a file (parents are created); returns its entry."""
        return _entry(self._client.request("writeFile", {"id": self._id, "path": path, "body": data}), path)

    def list(self, path: str, *, depth: int | None = None) -> list[FileEntry]:
        return cast(list[FileEntry], self._client.request("listFiles", _drop_none({"id": self._id, "path": path, "depth": depth}))["items"])

    def exists(self, path: str) -> bool:
        return bool(self._client.stat_file(id=self._id, path=path).get("exists"))

    def get_info(self, path: str) -> FileEntry:
        return _entry(self._client.stat_file(id=self._id, path=path), path)

    def remove(self, path: str) -> None:
        self._client.delete_file(id=self._id, path=path)

    def rename(self, old_path: str, new_path: str) -> FileEntry:
        return _entry(self._client.rename_file(**{"id": self._id, "from": old_path, "to": new_path}), new_path)

    def make_dir(self, path: str) -> FileEntry:
        return _entry(self._client.make_dir(id=self._id, path=path), path)


def port_host(base_url: str, sandbox_id: str, port: int) -> str:
    """The host-name form of port exposure, as the TypeScript SDK's ``portHost``."""
    api_port = urlsplit(base_url).port
    return f"{port}-{sandbox_id}.sandbox.localhost" + (f":{api_port}" if api_port else "")


class Sandbox:
    """A tidepool sandbox (sync). ``Sandbox.create(...)`` or ``Sandbox.connect(id)``; use as a context manager to kill it on exit."""

    def __init__(self, client: Client, info: SandboxInfo, *, owns_client: bool = False) -> None:
        self.client = client
        self.info = info
        self._owns_client = owns_client
        self.commands = Commands(client, info["id"])
        self.files = Files(client, info["id"])

    @property
    def sandbox_id(self) -> str:
        return self.info["id"]

    def get_host(self, port: int) -> str:
        """``"<port>-<id>.sandbox.localhost:<api port>"``: a server inside on ``port`` (also one bound to its
        127.0.0.1) reached through the API server with the caller's token (E2B's ``get_host``)."""
        return port_host(self.client.base_url, self.info["id"], port)

    @classmethod
    def create(cls, template: str | None = None, *, timeout_ms: int | None = None, envs: Mapping[str, str] | None = None, metadata: Mapping[str, str] | None = None, lifecycle: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None, network: Mapping[str, Any] | None = None, from_snapshot: str | None = None, api_url: str | None = None, token: str | None = None, client: Client | None = None) -> Sandbox:
        c, owns = _client(client, api_url, token)
        body = _drop_none({"template": template, "timeoutMs": timeout_ms, "envs": envs, "metadata": metadata, "lifecycle": lifecycle, "resources": resources, "network": network, "fromSnapshot": from_snapshot})
        return cls(c, cast(SandboxInfo, c.request("createSandbox", body)), owns_client=owns)

    @classmethod
    def connect(cls, sandbox_id: str, *, api_url: str | None = None, token: str | None = None, client: Client | None = None) -> Sandbox:
        c, owns = _client(client, api_url, token)
        return cls(c, c.get_sandbox(id=sandbox_id), owns_client=owns)

    @staticmethod
    def list(*, query: Mapping[str, Any] | None = None, limit: int | None = None, api_url: str | None = None, token: str | None = None, client: Client | None = None) -> Paginator[SandboxInfo]:
        """Sandboxes page by page: ``for page in Sandbox.list(query={"metadata": {"k": "v"}, "state": "running"})``."""
        c, owns = _client(client, api_url, token)
        q = dict(query or {})

        def fetch(next_token: str | None) -> Mapping[str, Any]:
            return cast(Mapping[str, Any], c.request("listSandboxes", _drop_none({"metadata": q.get("metadata"), "state": q.get("state"), "limit": limit, "nextToken": next_token})))

        return Paginator(fetch, c.close if owns else None)

    @staticmethod
    def kill_by_id(sandbox_id: str, *, api_url: str | None = None, token: str | None = None, client: Client | None = None) -> bool:
        c, owns = _client(client, api_url, token)
        try:
            c.delete_sandbox(id=sandbox_id)
            return True
        except NotFoundError:
            return False
        finally:
            if owns:
                c.close()

    def get_info(self) -> SandboxInfo:
        self.info = self.client.get_sandbox(id=self.sandbox_id)
        return self.info

    def is_running(self) -> bool:
        return self.get_info()["state"] == "running"

    def set_timeout(self, timeout_ms: int) -> None:
        self.info = self.client.patch_sandbox(id=self.sandbox_id, timeoutMs=timeout_ms)

    def set_metadata(self, metadata: Mapping[str, str]) -> None:
        self.info = self.client.patch_sandbox(id=self.sandbox_id, metadata=dict(metadata))

    def pause(self) -> None:
        self.info = self.client.pause_sandbox(id=self.sandbox_id)

    def resume(self) -> None:
        self.info = self.client.resume_sandbox(id=self.sandbox_id)

    def get_metrics(self) -> SandboxMetrics:
        return self.client.get_sandbox_metrics(id=self.sandbox_id)

    def create_snapshot(self, *, labels: Mapping[str, str] | None = None, ttl_ms: int | None = None) -> SnapshotInfo:
        return cast(SnapshotInfo, self.client.request("createSnapshot", _drop_none({"id": self.sandbox_id, "labels": labels, "ttlMs": ttl_ms})))

    def fork(self, *, count: int | None = None, metadata: Mapping[str, str] | None = None) -> builtins.list[Sandbox]:
        out = self.client.request("forkSandbox", _drop_none({"id": self.sandbox_id, "count": count, "metadata": metadata}))
        return [Sandbox(self.client, info) for info in out["items"]]

    def reset(self, *, to: str | None = None) -> None:
        """Put the files back to the sandbox's start (its template, or the snapshot it started from) or to snapshot ``to``, in place; processes restart."""
        self.info = cast(SandboxInfo, self.client.request("resetSandbox", _drop_none({"id": self.sandbox_id, "to": to})))

    def kill(self) -> None:
        """Destroy the sandbox (idempotent) and close the client if this sandbox made it."""
        try:
            self.client.delete_sandbox(id=self.sandbox_id)
        finally:
            self.close()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
