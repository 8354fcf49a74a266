"""``AsyncSandbox``: the asyncio twin of :mod:`tidepool.sandbox` (same names, ``await`` them)."""

from __future__ import annotations

import builtins

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, cast, overload

from ._generated import CommandInfo, ExecResult, FileEntry, SandboxMetrics, Snapshot as SnapshotInfo, Sandbox as SandboxInfo, Template as TemplateInfo
from ._wire import DEFAULT_OUTPUT_LIMIT, HeadTail
from .client import AsyncClient
from .errors import CommandExitError, NotFoundError
from .sandbox import DEFAULT_COMMAND_TIMEOUT_MS, MAX_PAGES, REQUEST_MARGIN_S, STREAM_ABOVE_MS, _drop_none, _entry, port_host

T = TypeVar("T")
AsyncOutputCallback = Callable[[str], "Awaitable[object] | object"]


async def _call(cb: AsyncOutputCallback | None, data: str) -> None:
    if cb is not None:
        result = cb(data)
        if inspect.isawaitable(result):
            await result


def _client(client: AsyncClient | None, api_url: str | None, token: str | None) -> tuple[AsyncClient, bool]:
    return (client, False) if client is not None else (AsyncClient(api_url, token), True)


class AsyncPaginator(Generic[T]):
    """``async for page in AsyncSandbox.list(...)``; ``items()`` flattens the pages."""

    def __init__(self, fetch: Callable[[str | None], Awaitable[Mapping[str, Any]]], on_done: Callable[[], Awaitable[None]] | None = None) -> None:
        self._fetch = fetch
        self._on_done = on_done
        self.next_token: str | None = None
        self.has_next = True

    async def next_items(self) -> list[T]:
        if not self.has_next:
            return []
        page = await self._fetch(self.next_token)
        self.next_token = page.get("nextToken") or None
        self.has_next = self.next_token is not None
        if not self.has_next and self._on_done:
            await self._on_done()
        return list(page.get("items", []))

    async def __aiter__(self) -> AsyncIterator[list[T]]:
        for _ in range(MAX_PAGES):
            if not self.has_next:
                return
            yield await self.next_items()

    async def items(self) -> AsyncIterator[T]:
        async for page in self:
            for item in page:
                yield item


async def _streamed(client: AsyncClient, op: str, input: Mapping[str, Any], on_stdout: AsyncOutputCallback | None, on_stderr: AsyncOutputCallback | None, limit: int, timeout: float | None = None) -> ExecResult:
    out, err = HeadTail(limit), HeadTail(limit)

    async def on_line(line: Any) -> None:
        if "stream" not in line:
            return
        data = str(line.get("data", ""))
        if line["stream"] == "stdout":
            out.push(data)
            await _call(on_stdout, data)
        else:
            err.push(data)
            await _call(on_stderr, data)

    end = await client.stream(op, input, on_line, timeout=timeout or REQUEST_MARGIN_S)
    return cast(ExecResult, {**end, "stdout": out.text(), "stderr": err.text(), "truncated": bool(end.get("truncated")) or out.truncated or err.truncated})


async def _kill(client: AsyncClient, sandbox_id: str, pid: int) -> bool:
    try:
        await client.kill_command(id=sandbox_id, pid=pid)
        return True
    except NotFoundError:
        return False


class AsyncCommandHandle:
    """A background command: ``await handle.wait()`` (output callbacks receive output while it streams), ``await handle.kill()``."""

    def __init__(self, client: AsyncClient, sandbox_id: str, pid: int, *, on_stdout: AsyncOutputCallback | None = None, on_stderr: AsyncOutputCallback | None = None, throw_on_error: bool = False, output_limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self._client = client
        self.sandbox_id = sandbox_id
        self.pid = pid
        self._opts = (on_stdout, on_stderr, output_limit)
        self._throw = throw_on_error
        self._result: ExecResult | None = None

    async def wait(self) -> ExecResult:
        if self._result is None:
            self._result = await _streamed(self._client, "waitCommand", {"id": self.sandbox_id, "pid": self.pid}, *self._opts)
        if self._throw and self._result["exitCode"] != 0:
            raise CommandExitError(self._result)
        return self._result

    async def kill(self) -> bool:
        return await _kill(self._client, self.sandbox_id, self.pid)


class AsyncCommands:
    def __init__(self, client: AsyncClient, sandbox_id: str) -> None:
        self._client = client
        self._id = sandbox_id

    @overload
    async def run(self, cmd: str | Sequence[str], *, background: Literal[True], cwd: str | None = ..., envs: Mapping[str, str] | None = ..., user: Literal["user", "root"] | None = ..., stdin: str | None = ..., timeout_ms: int | None = ..., on_stdout: AsyncOutputCallback | None = ..., on_stderr: AsyncOutputCallback | None = ..., throw_on_error: bool = ..., output_limit: int = ..., request_timeout: float | None = ...) -> AsyncCommandHandle: ...
    @overload
    async def run(self, cmd: str | Sequence[str], *, background: Literal[False] = ..., cwd: str | None = ..., envs: Mapping[str, str] | None = ..., user: Literal["user", "root"] | None = ..., stdin: str | None = ..., timeout_ms: int | None = ..., on_stdout: AsyncOutputCallback | None = ..., on_stderr: AsyncOutputCallback | None = ..., throw_on_error: bool = ..., output_limit: int = ..., request_timeout: float | None = ...) -> ExecResult: ...
    async def run(self, cmd: str | Sequence[str], *, background: bool = False, cwd: str | None = None, envs: Mapping[str, str] | None = None, user: Literal["user", "root"] | None = None, stdin: str | None = None, timeout_ms: int | None = None, on_stdout: AsyncOutputCallback | None = None, on_stderr: AsyncOutputCallback | None = None, throw_on_error: bool = False, output_limit: int = DEFAULT_OUTPUT_LIMIT, request_timeout: float | None = None) -> ExecResult | AsyncCommandHandle:
        """See :meth:`tidepool.sandbox.Commands.run`; callbacks may be coroutine functions."""
        input = _drop_none({"id": self._id, "cmd": cmd if isinstance(cmd, str) else list(cmd), "cwd": cwd, "envs": dict(envs) if envs else None, "user": user, "stdin": stdin, "timeoutMs": timeout_ms})
        if background:
            started = await self._client.request("exec", {**input, "background": True}, timeout=request_timeout or REQUEST_MARGIN_S)
            return AsyncCommandHandle(self._client, self._id, int(started["pid"]), on_stdout=on_stdout, on_stderr=on_stderr, throw_on_error=throw_on_error, output_limit=output_limit)
        if on_stdout or on_stderr or (timeout_ms or 0) > STREAM_ABOVE_MS:
            result = await _streamed(self._client, "exec", input, on_stdout, on_stderr, output_limit, request_timeout)
        else:
            wait_s = request_timeout or (timeout_ms or DEFAULT_COMMAND_TIMEOUT_MS) / 1000 + REQUEST_MARGIN_S
            result = cast(ExecResult, await self._client.request("exec", input, timeout=wait_s))
        if throw_on_error and result["exitCode"] != 0:
            raise CommandExitError(result)
        return result

    async def list(self) -> list[CommandInfo]:
        return (await self._client.list_commands(id=self._id))["items"]

    async def kill(self, pid: int) -> bool:
        return await _kill(self._client, self._id, pid)


class AsyncFiles:
    def __init__(self, client: AsyncClient, sandbox_id: str) -> None:
        self._client = client
        self._id = sandbox_id

    @overload
    async def read(self, path: str, *, format: Literal["text"] = ...) -> str: ...
    @overload
    async def read(self, path: str, *, format: Literal["bytes"]) -> bytes: ...
    async def read(self, path: str, *, format: Literal["text", "bytes"] = "text") -> str | bytes:
        data = cast(bytes, await self._client.request("readFile", {"id": self._id, "path": path}))
        return data if format == "bytes" else data.decode("utf-8")

    async def write(self, path: str, data: str | bytes) -> FileEntry:
        return _entry(await self._client.request("writeFile", {"id": self._id, "path": path, "body": data}), path)

    async def list(self, path: str, *, depth: int | None = None) -> list[FileEntry]:
        return cast(list[FileEntry], (await self._client.request("listFiles", _drop_none({"id": self._id, "path": path, "depth": depth})))["items"])

    async def exists(self, path: str) -> bool:
        return bool((await self._client.stat_file(id=self._id, path=path)).get("exists"))

    async def remove(self, path: str) -> None:
        await self._client.delete_file(id=self._id, path=path)

    async def rename(self, old_path: str, new_path: str) -> FileEntry:
        return _entry(await self._client.rename_file(**{"id": self._id, "from": old_path, "to": new_path}), new_path)

    async def make_dir(self, path: str) -> FileEntry:
        return _entry(await self._client.make_dir(id=self._id, path=path), path)


class AsyncSandbox:
    """``sbx = await AsyncSandbox.create(...)``; ``async with`` kills it on exit."""

    def __init__(self, client: AsyncClient, info: SandboxInfo, *, owns_client: bool = False) -> None:
        self.client = client
        self.info = info
        self._owns_client = owns_client
        self.commands = AsyncCommands(client, info["id"])
        self.files = AsyncFiles(client, info["id"])

    @property
    def sandbox_id(self) -> str:
        return self.info["id"]

    def get_host(self, port: int) -> str:
        """As ``Sandbox.get_host``: the host name that reaches port ``port`` inside through the API server."""
        return port_host(self.client.base_url, self.info["id"], port)

    @classmethod
    async def create(cls, template: str | None = None, *, timeout_ms: int | None = None, envs: Mapping[str, str] | None = None, metadata: Mapping[str, str] | None = None, lifecycle: Mapping[str, Any] | None = None, resources: Mapping[str, Any] | None = None, network: Mapping[str, Any] | None = None, from_snapshot: str | None = None, api_url: str | None = None, token: str | None = None, client: AsyncClient | None = None) -> AsyncSandbox:
        c, owns = _client(client, api_url, token)
        body = _drop_none({"template": template, "timeoutMs": timeout_ms, "envs": envs, "metadata": metadata, "lifecycle": lifecycle, "resources": resources, "network": network, "fromSnapshot": from_snapshot})
        return cls(c, cast(SandboxInfo, await c.request("createSandbox", body)), owns_client=owns)

    @classmethod
    async def connect(cls, sandbox_id: str, *, api_url: str | None = None, token: str | None = None, client: AsyncClient | None = None) -> AsyncSandbox:
        c, owns = _client(client, api_url, token)
        return cls(c, await c.get_sandbox(id=sandbox_id), owns_client=owns)

    @staticmethod
    def list(*, query: Mapping[str, Any] | None = None, limit: int | None = None, api_url: str | None = None, token: str | None = None, client: AsyncClient | None = None) -> AsyncPaginator[SandboxInfo]:
        c, owns = _client(client, api_url, token)
        q = dict(query or {})

        async def fetch(next_token: str | None) -> Mapping[str, Any]:
            return cast(Mapping[str, Any], await c.request("listSandboxes", _drop_none({"metadata": q.get("metadata"), "state": q.get("state"), "limit": limit, "nextToken": next_token})))

        return AsyncPaginator(fetch, c.close if owns else None)

    async def get_info(self) -> SandboxInfo:
        self.info = await self.client.get_sandbox(id=self.sandbox_id)
        return self.info

    async def set_timeout(self, timeout_ms: int) -> None:
        self.info = await self.client.patch_sandbox(id=self.sandbox_id, timeoutMs=timeout_ms)

    async def pause(self) -> None:
        self.info = await self.client.pause_sandbox(id=self.sandbox_id)

    async def resume(self) -> None:
        self.info = await self.client.resume_sandbox(id=self.sandbox_id)

    async def get_metrics(self) -> SandboxMetrics:
        return await self.client.get_sandbox_metrics(id=self.sandbox_id)

    async def create_snapshot(self, *, labels: Mapping[str, str] | None = None, ttl_ms: int | None = None) -> SnapshotInfo:
        return cast(SnapshotInfo, await self.client.request("createSnapshot", _drop_none({"id": self.sandbox_id, "labels": labels, "ttlMs": ttl_ms})))

    async def fork(self, *, count: int | None = None, metadata: Mapping[str, str] | None = None) -> builtins.list[AsyncSandbox]:
        out = await self.client.request("forkSandbox", _drop_none({"id": self.sandbox_id, "count": count, "metadata": metadata}))
        return [AsyncSandbox(self.client, info) for info in out["items"]]

    async def reset(self, *, to: str | None = None) -> None:
        self.info = cast(SandboxInfo, await self.client.request("resetSandbox", _drop_none({"id": self.sandbox_id, "to": to})))

    async def kill(self) -> None:
        try:
            await self.client.delete_sandbox(id=self.sandbox_id)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._owns_client:
            await self.client.close()

    async def __aenter__(self) -> AsyncSandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()


class AsyncTemplate:
    @staticmethod
    async def build(spec: Mapping[str, Any], *, on_progress: Callable[[Any], Awaitable[object] | object] | None = None, client: AsyncClient | None = None, api_url: str | None = None, token: str | None = None, timeout: float = 600.0) -> TemplateInfo:
        c, owns = _client(client, api_url, token)
        try:
            if on_progress is None:
                return cast(TemplateInfo, await c.request("buildTemplate", spec, timeout=timeout))
            end = await c.stream("buildTemplate", spec, on_progress, timeout=timeout)
            return cast(TemplateInfo, end.get("template", end))
        finally:
            if owns:
                await c.close()
