"""``Template`` and ``Snapshot`` (sync): the catalog a sandbox starts from; ``sbx.create_snapshot()`` makes snapshots."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from ._generated import Snapshot as SnapshotInfo, Template as TemplateInfo
from .client import Client
from .errors import NotFoundError
from .sandbox import Paginator, _client, _drop_none


class Template:
    """Templates: ``Template.build(spec, on_progress=...)``, ``list``, ``get``, ``delete``."""

    @staticmethod
    def build(spec: Mapping[str, Any], *, on_progress: Callable[[Any], object] | None = None, client: Client | None = None, api_url: str | None = None, token: str | None = None, timeout: float = 600.0) -> TemplateInfo:
        c, owns = _client(client, api_url, token)
        try:
            if on_progress is None:
                return cast(TemplateInfo, c.request("buildTemplate", spec, timeout=timeout))
            end = c.stream("buildTemplate", spec, on_progress, timeout=timeout)
            return cast(TemplateInfo, end.get("template", end))
        finally:
            if owns:
                c.close()

    @staticmethod
    def list(*, limit: int | None = None, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> Paginator[TemplateInfo]:
        c, owns = _client(client, api_url, token)
        return Paginator(lambda nt: cast(Mapping[str, Any], c.request("listTemplates", _drop_none({"limit": limit, "nextToken": nt}))), c.close if owns else None)

    @staticmethod
    def get(name: str, *, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> TemplateInfo:
        c, owns = _client(client, api_url, token)
        try:
            return c.get_template(name=name)
        finally:
            if owns:
                c.close()

    @staticmethod
    def delete(name: str, *, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> None:
        c, owns = _client(client, api_url, token)
        try:
            c.delete_template(name=name)
        finally:
            if owns:
                c.close()


class Snapshot:
    """Snapshots: ``Snapshot.list(query=...)``, ``get``, ``delete`` (``sbx.create_snapshot()`` makes one)."""

    @staticmethod
    def list(*, query: Mapping[str, Any] | None = None, limit: int | None = None, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> Paginator[SnapshotInfo]:
        c, owns = _client(client, api_url, token)
        q = dict(query or {})
        return Paginator(lambda nt: cast(Mapping[str, Any], c.request("listSnapshots", _drop_none({"sandboxId": q.get("sandbox_id"), "labels": q.get("labels"), "limit": limit, "nextToken": nt}))), c.close if owns else None)

    @staticmethod
    def get(snapshot_id: str, *, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> SnapshotInfo:
        c, owns = _client(client, api_url, token)
        try:
            return c.get_snapshot(id=snapshot_id)
        finally:
            if owns:
                c.close()

    @staticmethod
    def delete(snapshot_id: str, *, client: Client | None = None, api_url: str | None = None, token: str | None = None) -> bool:
        c, owns = _client(client, api_url, token)
        try:
            c.delete_snapshot(id=snapshot_id)
            return True
        except NotFoundError:
            return False
        finally:
            if owns:
                c.close()
