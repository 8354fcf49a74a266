"""Errors of the tidepool SDK: ``ApiError`` with the server's stable ``code``, one subclass per code."""

from __future__ import annotations

import json
from typing import Any


class ApiError(Exception):
    """A failed API call. Match on ``code`` (stable across versions) or catch a subclass.

    ``code`` is one of the server's codes (``tidepool.ERROR_CODES``) or ``network_error`` when no answer
    came (connection refused, timeout); ``status`` is the HTTP status when there was one.
    """

    code: str = "internal"

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        details: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.details = details
        self.request_id = request_id

    def __str__(self) -> str:
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{self.code}: {self.message}{suffix}"


class InvalidRequestError(ApiError):
    code = "invalid_request"


class UnauthenticatedError(ApiError):
    code = "unauthenticated"


class PolicyDeniedError(ApiError):
    code = "policy_denied"


class NotFoundError(ApiError):
    code = "not_found"


class ConflictError(ApiError):
    code = "conflict"


class PayloadTooLargeError(ApiError):
    code = "payload_too_large"


class QuotaExceededError(ApiError):
    code = "quota_exceeded"


class InternalError(ApiError):
    code = "internal"


class RuntimeUnavailableError(ApiError):
    code = "runtime_unavailable"


class BadGatewayError(ApiError):
    """A server inside the sandbox did not answer through port exposure (nothing listens on the port)."""

    code = "bad_gateway"


class NetworkError(ApiError):
    """No answer from the server (refused, reset, timed out); ``code`` is ``network_error``."""

    code = "network_error"


ERROR_CLASSES: dict[str, type[ApiError]] = {
    cls.code: cls
    for cls in (
        InvalidRequestError,
        UnauthenticatedError,
        PolicyDeniedError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        QuotaExceededError,
        InternalError,
        RuntimeUnavailableError,
        BadGatewayError,
        NetworkError,
    )
}


def api_error(code: str, message: str, **kw: Any) -> ApiError:
    """The subclass for ``code`` (plain ``ApiError`` for a code this SDK does not know yet)."""
    return ERROR_CLASSES.get(code, ApiError)(code, message, **kw)


def error_from_response(status: int, body: bytes, request_id: str | None) -> ApiError:
    """The ApiError of an error response: the server's ``{error: {code, message, …}}`` or, failing that, the status."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict) and isinstance(err.get("code"), str) and isinstance(err.get("message"), str):
        return api_error(
            err["code"],
            err["message"],
            status=status,
            details=err.get("details"),
            request_id=err.get("requestId") if isinstance(err.get("requestId"), str) else request_id,
        )
    code = {400: "invalid_request", 401: "unauthenticated", 403: "policy_denied", 404: "not_found", 409: "conflict", 413: "payload_too_large", 429: "quota_exceeded", 502: "bad_gateway", 503: "runtime_unavailable"}.get(status, "internal")
    text = body[:200].decode("utf-8", "replace")
    return api_error(code, f"HTTP {status}: {text}", status=status, request_id=request_id)


class CommandExitError(Exception):
    """Raised by ``run()`` / ``wait()`` with ``throw_on_error=True`` when a command exits non-zero."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self.exit_code: int = result["exitCode"]
        self.stdout: str = result.get("stdout", "")
        self.stderr: str = result.get("stderr", "")
        if result.get("timedOut"):
            msg = f"command timed out and was killed (exit code {self.exit_code})"
        elif result.get("oomKilled"):
            msg = f"command was OOM-killed (exit code {self.exit_code}); raise resources.memoryMb"
        else:
            tail = self.stderr.rstrip()[-500:]
            msg = f"command exited with code {self.exit_code}" + (f": {tail}" if tail else "")
        super().__init__(msg)
