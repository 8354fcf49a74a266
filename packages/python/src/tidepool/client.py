"""``Client`` and ``AsyncClient``: every operation of tidepool's API over httpx, typed from the contract."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

import httpx

from ._generated import AsyncOperations, SyncOperations
from ._wire import NDJSON, NdjsonLines, Request, connection, encode, operation, stream_error
from .errors import ApiError, NetworkError, error_from_response

DEFAULT_TIMEOUT_S = 60.0


def _headers(token: str, extra: Mapping[str, str] | None, req: Request, accept: str) -> dict[str, str]:
    headers = {"accept": accept, **(extra or {}), "authorization": f"Bearer {token}"}
    if req.content_type:
        headers["content-type"] = req.content_type
    return headers


def _timeout(seconds: float | None, streaming: bool) -> httpx.Timeout:
    # A stream may be quiet for as long as its command is: only the connection is bounded then.
    if streaming:
        return httpx.Timeout(None, connect=seconds)
    return httpx.Timeout(seconds)


def _decode(name: str, res: httpx.Response, output: str) -> Any:
    if res.status_code >= 400:
        raise error_from_response(res.status_code, res.content, res.headers.get("x-request-id"))
    if output == "raw":
        return res.content
    if output == "none" or not res.content:
        return None
    try:
        return json.loads(res.content)
    except ValueError:
        raise ApiError("internal", f"{name}: the server answered {res.status_code} with a body that is not JSON", status=res.status_code) from None


def _network(name: str, req: Request, err: Exception) -> NetworkError:
    return NetworkError("network_error", f"{name} ({req.method} {req.url.split('?')[0]}) failed: {err or type(err).__name__}")


class Client(SyncOperations):
    """A synchronous client: ``client.request(op, input)`` or one method per operation (``client.list_templates()``).

    The URL and token default to ``TIDEPOOL_URL`` (else ``http://127.0.0.1:7070``) and ``TIDEPOOL_TOKEN``.
    Inputs and results are the wire shapes (camelCase keys), typed by the TypedDicts in ``tidepool.models``.
    """

    def __init__(
        self,
        api_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.base_url, self._token = connection(api_url, token)
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._owns_http = http is None
        self._http = http or httpx.Client()

    def request(self, op: str, input: Any = None, *, timeout: float | None = None) -> Any:
        """Call an operation by its contract name (``"createSandbox"``); JSON results as dicts, raw ones as bytes."""
        spec = operation(op)
        req = encode(self.base_url, op, input)
        try:
            res = self._http.request(req.method, req.url, content=req.body, headers=_headers(self._token, self._headers, req, "application/json"), timeout=_timeout(timeout or self.timeout, False))
        except httpx.HTTPError as err:
            raise _network(op, req, err) from err
        return _decode(op, res, spec.output)

    def stream(self, op: str, input: Any, on_line: Callable[[Any], object], *, timeout: float | None = None) -> Any:
        """Call an NDJSON-streaming operation (``exec``, ``waitCommand``, ``buildTemplate``): each line goes to
        ``on_line`` as it arrives; returns the final line (the one that is not a chunk)."""
        req = encode(self.base_url, op, input)
        final: Any = None
        try:
            with self._http.stream(req.method, req.url, content=req.body, headers=_headers(self._token, self._headers, req, f"{NDJSON}, application/json;q=0.5"), timeout=_timeout(timeout or self.timeout, True)) as res:
                if res.status_code >= 400:
                    raise error_from_response(res.status_code, res.read(), res.headers.get("x-request-id"))
                if NDJSON not in res.headers.get("content-type", ""):
                    return json.loads(res.read())
                lines = NdjsonLines()
                for chunk in _chunks(res.iter_bytes()):
                    for value in lines.feed(chunk, chunk == b""):
                        final = _line(value, on_line, final)
        except httpx.HTTPError as err:
            raise _network(op, req, err) from err
        return _ended(op, final)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(AsyncOperations):
    """The asyncio twin of :class:`Client` (``await client.request(...)``, ``await client.list_templates()``)."""

    def __init__(
        self,
        api_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url, self._token = connection(api_url, token)
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient()

    async def request(self, op: str, input: Any = None, *, timeout: float | None = None) -> Any:
        spec = operation(op)
        req = encode(self.base_url, op, input)
        try:
            res = await self._http.request(req.method, req.url, content=req.body, headers=_headers(self._token, self._headers, req, "application/json"), timeout=_timeout(timeout or self.timeout, False))
        except httpx.HTTPError as err:
            raise _network(op, req, err) from err
        return _decode(op, res, spec.output)

    async def stream(self, op: str, input: Any, on_line: Callable[[Any], Awaitable[object] | object], *, timeout: float | None = None) -> Any:
        req = encode(self.base_url, op, input)
        final: Any = None
        try:
            async with self._http.stream(req.method, req.url, content=req.body, headers=_headers(self._token, self._headers, req, f"{NDJSON}, application/json;q=0.5"), timeout=_timeout(timeout or self.timeout, True)) as res:
                if res.status_code >= 400:
                    raise error_from_response(res.status_code, await res.aread(), res.headers.get("x-request-id"))
                if NDJSON not in res.headers.get("content-type", ""):
                    return json.loads(await res.aread())
                lines = NdjsonLines()
                async for chunk in _achunks(res.aiter_bytes()):
                    for value in lines.feed(chunk, chunk == b""):
                        err = stream_error(value)
                        if err:
                            raise err
                        if _is_chunk(value):
                            result = on_line(value)
                            if isinstance(result, Awaitable):
                                await result
                        else:
                            final = value
        except httpx.HTTPError as err:
            raise _network(op, req, err) from err
        return _ended(op, final)

    async def close(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _is_chunk(value: Any) -> bool:
    # `{stream, data}` output, `{pid}` (the command started) and build progress are chunks; the result is not.
    return isinstance(value, dict) and ("stream" in value or ("pid" in value and "exitCode" not in value) or "phase" in value)


def _line(value: Any, on_line: Callable[[Any], object], final: Any) -> Any:
    err = stream_error(value)
    if err:
        raise err
    if _is_chunk(value):
        on_line(value)
        return final
    return value


def _ended(op: str, final: Any) -> Any:
    if final is None:
        raise NetworkError("network_error", f"{op}: the stream ended before the final line (connection closed early?)")
    return final


def _chunks(source: Iterator[bytes]) -> Iterator[bytes]:
    """The body's chunks, then one empty chunk that tells the line splitter the body ended."""
    yield from source
    yield b""


async def _achunks(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    async for chunk in source:
        if chunk:
            yield chunk
    yield b""
