"""tidepool: the Python SDK of tidepool's sandbox API (sync and asyncio, on httpx).

    from tidepool import Sandbox
    with Sandbox.create(timeout_ms=120_000) as sbx:
        print(sbx.commands.run("uname -a")["stdout"])
"""

from . import _generated as models
from ._generated import ERROR_CODES, OPERATIONS, Operation
from ._wire import DEFAULT_API_URL
from .aio import AsyncCommandHandle, AsyncSandbox, AsyncTemplate
from .client import AsyncClient, Client
from .errors import (
    ApiError,
    BadGatewayError,
    CommandExitError,
    ConflictError,
    InternalError,
    InvalidRequestError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PolicyDeniedError,
    QuotaExceededError,
    RuntimeUnavailableError,
    UnauthenticatedError,
)
from .catalog import Snapshot, Template
from .sandbox import CommandHandle, Commands, Files, Paginator, Sandbox

__all__ = [
    "ApiError",
    "BadGatewayError",
    "AsyncClient",
    "AsyncCommandHandle",
    "AsyncSandbox",
    "AsyncTemplate",
    "Client",
    "CommandExitError",
    "CommandHandle",
    "Commands",
    "ConflictError",
    "DEFAULT_API_URL",
    "ERROR_CODES",
    "Files",
    "InternalError",
    "InvalidRequestError",
    "NetworkError",
    "NotFoundError",
    "OPERATIONS",
    "Operation",
    "Paginator",
    "PayloadTooLargeError",
    "PolicyDeniedError",
    "QuotaExceededError",
    "RuntimeUnavailableError",
    "Sandbox",
    "Snapshot",
    "Template",
    "UnauthenticatedError",
    "models",
]
