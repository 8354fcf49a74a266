"""What the sync and async clients share: request encoding from the operation table, NDJSON lines, output caps."""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

from ._generated import OPERATIONS, Operation
from .errors import ApiError, InvalidRequestError

DEFAULT_API_URL = "http://127.0.0.1:7070"
NDJSON = "application/x-ndjson"
# One NDJSON line is a chunk of output or a result; the server's chunks are far smaller than this.
MAX_NDJSON_LINE = 32 * 1024 * 1024
DEFAULT_OUTPUT_LIMIT = 8 * 1024 * 1024
MAX_QUERY_PAIRS = 1024


class Connection(NamedTuple):
    base_url: str
    token: str


def connection(api_url: str | None, token: str | None) -> Connection:
    """The URL and token: arguments first, then ``TIDEPOOL_URL`` / ``TIDEPOOL_TOKEN`` (as the TypeScript SDK)."""
    tok = token or os.environ.get("TIDEPOOL_TOKEN") or ""
    if not tok:
        raise ApiError(
            "unauthenticated",
            "no API token: pass token=... or set TIDEPOOL_TOKEN (`tidepool token create` makes one; "
            "the admin token is in $TIDEPOOL_HOME/admin.token)",
        )
    url = api_url or os.environ.get("TIDEPOOL_URL") or DEFAULT_API_URL
    return Connection(url.rstrip("/"), tok)


class Request(NamedTuple):
    method: str
    url: str
    body: bytes | None
    content_type: str | None


def operation(name: str) -> Operation:
    op = OPERATIONS.get(name)
    if op is None:
        raise InvalidRequestError("invalid_request", f"unknown operation {name!r} (see tidepool.OPERATIONS)")
    return op


def encode(base_url: str, name: str, input: Mapping[str, Any] | None) -> Request:
    """Path params from their input fields; the rest to the query (GET, DELETE, raw bodies) or a JSON body."""
    op = operation(name)
    if input is not None and not isinstance(input, Mapping):
        raise InvalidRequestError("invalid_request", f"{name}: input must be a mapping (got {type(input).__name__})")
    rest = {k: v for k, v in (input or {}).items() if v is not None}
    path = op.path
    for key in op.path_params:
        value = rest.pop(key, None)
        if value is None or value == "":
            raise InvalidRequestError("invalid_request", f"{name}: {key} is required (it is part of the path {op.path})", details=[{"path": key, "message": "required"}])
        path = path.replace("{" + key + "}", quote(str(value), safe=""))
    pairs: list[tuple[str, str]] = []
    body: bytes | None = None
    content_type: str | None = None
    if op.body == "raw":
        raw = rest.pop("body", b"")
        body = raw.encode() if isinstance(raw, str) else bytes(raw)
        content_type = op.raw_content_type or "application/octet-stream"
        for k, v in rest.items():
            query_pairs(pairs, k, v)
    elif op.method in ("GET", "DELETE"):
        for k, v in rest.items():
            query_pairs(pairs, k, v)
    else:
        body = json.dumps(rest, separators=(",", ":")).encode()
        content_type = "application/json"
    pairs = [(k, v) for k, v in pairs if k not in op.fixed_query] + list(op.fixed_query.items())
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
    return Request(op.method, f"{base_url}{path}{'?' + query if query else ''}", body, content_type)


def query_pairs(out: list[tuple[str, str]], key: str, value: Any) -> None:
    """Scalars as ``k=v``, lists as repeated ``k=v``, mappings as ``k.<key>=v`` (the server's metadata filters)."""
    if value is None:
        return
    if len(out) >= MAX_QUERY_PAIRS:
        raise InvalidRequestError("invalid_request", f"more than {MAX_QUERY_PAIRS} query parameters")
    if isinstance(value, bool):
        out.append((key, "true" if value else "false"))
    elif isinstance(value, (list, tuple)):
        for item in value:
            query_pairs(out, key, item)
    elif isinstance(value, Mapping):
        for k, v in value.items():
            query_pairs(out, f"{key}.{k}", v)
    else:
        out.append((key, str(value)))


class NdjsonLines:
    """Splits an NDJSON body into parsed values, decoding UTF-8 across chunk boundaries; one line is bounded."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buffer = ""

    def feed(self, chunk: bytes, final: bool = False) -> list[Any]:
        self._buffer += self._decoder.decode(chunk, final)
        lines = self._buffer.split("\n")
        self._buffer = "" if final else lines.pop()
        if len(self._buffer) > MAX_NDJSON_LINE:
            raise ApiError("internal", f"an NDJSON line from the server is longer than {MAX_NDJSON_LINE} characters")
        out: list[Any] = []
        for line in lines:
            text = line.strip()
            if not text:
                continue
            try:
                out.append(json.loads(text))
            except ValueError:
                raise ApiError("internal", f"malformed NDJSON line from the server: {text[:200]}") from None
        return out


def stream_error(line: Any) -> ApiError | None:
    """An error the server reports inside a stream (``{error: {code, message}}``), if this line is one."""
    err = line.get("error") if isinstance(line, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str):
        from .errors import api_error

        return api_error(err["code"], str(err.get("message", "")), details=err.get("details"), request_id=err.get("requestId"))
    return None


class HeadTail:
    """Keeps the first and last ``limit // 2`` characters of a stream of chunks (the callbacks see everything)."""

    def __init__(self, limit: int = DEFAULT_OUTPUT_LIMIT) -> None:
        self.limit = max(2, limit)
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.truncated = False

    def push(self, chunk: str) -> None:
        if not self.truncated and self.head_len + len(chunk) <= self.limit:
            self.head.append(chunk)
            self.head_len += len(chunk)
            return
        half = self.limit // 2
        if not self.truncated:
            self.truncated = True
            joined = "".join(self.head)
            self.head, self.head_len = [joined[:half]], min(half, len(joined))
            chunk = joined[half:] + chunk
        self.tail = (self.tail + chunk)[-(self.limit - half) :]

    def text(self) -> str:
        return "".join(self.head) + self.tail
