#!/usr/bin/env python3
"""Generate ``src/tidepool/_generated.py`` from tidepool's OpenAPI document.

The operation table in packages/sdk/src/contract is the one schema source; the server publishes it as
``/openapi.json`` (and the repository keeps a snapshot in packages/server/src/http/openapi.snapshot.json).
This script turns that document into TypedDicts (the wire shapes, camelCase keys as on the wire), the
operation table the clients use to build requests, and one typed method per operation for the sync and
async clients. No third-party generator: the document uses a small subset of JSON Schema and an own
generator keeps the output stable and dependency-free.

    python scripts/generate_models.py [openapi.json | http://host:port/openapi.json] [-o out.py]
    python scripts/generate_models.py --check   # exit 1 when the checked-in file differs
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
DEFAULT_SOURCE = PACKAGE.parent / "server" / "src" / "http" / "openapi.snapshot.json"
DEFAULT_OUT = PACKAGE / "src" / "tidepool" / "_generated.py"
# Bounds: the document is ours, but a generator should not recurse or loop without end.
MAX_DEPTH = 40
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as res:  # noqa: S310 (our own server)
            raw = res.read(MAX_DOCUMENT_BYTES + 1)
    else:
        raw = Path(source).read_bytes()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise SystemExit(f"{source}: larger than {MAX_DOCUMENT_BYTES} bytes")
    doc = json.loads(raw)
    if not isinstance(doc, dict) or "paths" not in doc:
        raise SystemExit(f"{source}: not an OpenAPI document")
    return doc


def pascal(name: str) -> str:
    parts = re.split(r"[^A-Za-z0-9]+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def snake(name: str) -> str:
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()


class Generator:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
        self.classes: list[str] = []  # emitted TypedDict definitions, in dependency-free order
        self.taken: set[str] = set(self.schemas)

    def unique(self, name: str) -> str:
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{name}{n}", n + 1
        self.taken.add(candidate)
        return candidate

    def type_of(self, schema: Any, hint: str, depth: int = 0) -> str:
        """The Python type expression of a schema; objects with properties become named TypedDicts."""
        if depth > MAX_DEPTH:
            raise SystemExit(f"{hint}: schema nested deeper than {MAX_DEPTH}")
        if not isinstance(schema, dict) or not schema:
            return "Any"
        if "$ref" in schema:
            return str(schema["$ref"]).rsplit("/", 1)[-1]
        if "const" in schema:
            return f"Literal[{schema['const']!r}]"
        if "enum" in schema:
            return "Literal[" + ", ".join(repr(v) for v in schema["enum"]) + "]"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                alts: list[str] = []
                for i, alt in enumerate(schema[key]):
                    t = self.type_of(alt, f"{hint}{i + 1}", depth + 1)
                    if t not in alts:
                        alts.append(t)
                return "Any" if "Any" in alts else " | ".join(alts)
        kind = schema.get("type")
        if isinstance(kind, list):
            return " | ".join(self.type_of({**schema, "type": k}, hint, depth + 1) for k in kind)
        if kind == "string":
            return "str"
        if kind == "integer":
            return "int"
        if kind == "number":
            return "float"
        if kind == "boolean":
            return "bool"
        if kind == "null":
            return "None"
        if kind == "array":
            if "prefixItems" in schema:
                items = [self.type_of(s, f"{hint}Item", depth + 1) for s in schema["prefixItems"]]
                return "tuple[" + ", ".join(items) + "]" if items else "list[Any]"
            return f"list[{self.type_of(schema.get('items'), f'{hint}Item', depth + 1)}]"
        if kind == "object" or "properties" in schema:
            if schema.get("properties"):
                return self.typed_dict(self.unique(hint), schema, depth + 1)
            extra = schema.get("additionalProperties")
            value = self.type_of(extra, f"{hint}Value", depth + 1) if isinstance(extra, dict) else "Any"
            return f"dict[str, {value}]"
        return "Any"

    def typed_dict(self, name: str, schema: dict[str, Any], depth: int, extra_fields: list[tuple[str, str, bool, str]] | None = None) -> str:
        fields: list[tuple[str, str, bool, str]] = list(extra_fields or [])
        required = set(schema.get("required", []))
        for key, prop in schema.get("properties", {}).items():
            t = self.type_of(prop, name + pascal(key), depth)
            doc = prop.get("description", "") if isinstance(prop, dict) else ""
            fields.append((key, t, key in required, doc))
        self.emit(name, fields, schema.get("description", ""))
        return name

    def emit(self, name: str, fields: list[tuple[str, str, bool, str]], doc: str) -> None:
        def annotated(t: str, req: bool) -> str:
            return f"Required[{t}]" if req else f"NotRequired[{t}]"

        if all(IDENTIFIER.fullmatch(k) and not keyword.iskeyword(k) for k, _, _, _ in fields):
            lines = [f"class {name}(TypedDict, total=False):"]
            if doc:
                lines.append(f"    {json.dumps(one_line(doc))}")
            for key, t, req, fdoc in fields:
                lines.append(f"    {key}: {annotated(t, req)}")
                if fdoc:
                    lines.append(f"    {json.dumps(one_line(fdoc))}")
            if len(lines) == 1:
                lines.append("    pass")
        else:
            # Keys such as `from` or `class` are Python keywords: the functional form takes any string.
            body = ", ".join(f"{json.dumps(k)}: {json.dumps(annotated(t, req))}" for k, t, req, _ in fields)
            lines = [f"{name} = TypedDict({json.dumps(name)}, {{{body}}}, total=False)"]
        self.classes.append("\n".join(lines))

    def operations(self) -> tuple[list[str], list[str], list[str]]:
        table: list[str] = []
        sync_methods: list[str] = []
        async_methods: list[str] = []
        for raw_path, item in self.doc["paths"].items():
            for method, op in item.items():
                name = op["operationId"]
                path, _, fixed = raw_path.partition("?")
                fixed_query = dict(pair.split("=", 1) for pair in fixed.split("&") if "=" in pair)
                fields: list[tuple[str, str, bool, str]] = []
                path_params: list[str] = []
                for p in op.get("parameters", []):
                    t = self.type_of(p.get("schema"), pascal(name) + pascal(p["name"]))
                    fields.append((p["name"], t, bool(p.get("required")), p.get("description", "")))
                    if p["in"] == "path":
                        path_params.append(p["name"])
                body_kind, raw_type = "none", ""
                content = op.get("requestBody", {}).get("content", {})
                input_schema: dict[str, Any] = {}
                if "application/json" in content:
                    body_kind = "json"
                    input_schema = content["application/json"].get("schema", {})
                    if "$ref" in input_schema:
                        input_schema = self.schemas[input_schema["$ref"].rsplit("/", 1)[-1]]
                elif content:
                    body_kind, raw_type = "raw", next(iter(content))
                    fields.append(("body", "bytes | str", True, f"Raw request body ({raw_type})."))
                input_name = self.typed_dict(self.unique(pascal(name) + "Input"), input_schema, 1, fields)
                ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
                code, response = next(iter(ok.items()))
                kinds = list(response.get("content", {}))
                if not kinds:
                    output, result = "none", "None"
                elif "application/json" in kinds:
                    output = "json"
                    result = self.type_of(response["content"]["application/json"].get("schema"), pascal(name) + "Result")
                else:
                    output, result = "raw", "bytes"
                stream = "application/x-ndjson" in kinds
                table.append(
                    f"    {json.dumps(name)}: Operation({json.dumps(method.upper())}, {json.dumps(path)}, "
                    f"{tuple(path_params)!r}, {fixed_query!r}, {json.dumps(body_kind)}, {json.dumps(raw_type)}, "
                    f"{json.dumps(output)}, {stream!r}, {json.dumps(op.get('x-tidepool-scope', ''))}),"
                )
                summary = json.dumps(one_line(op.get("summary", name) + f" ({method.upper()} {raw_path})"))
                py = snake(name)
                sync_methods.append(
                    f"    def {py}(self, **input: Unpack[{input_name}]) -> {result}:\n"
                    f"        {summary}\n"
                    f"        return cast({quoted(result)}, self.request({json.dumps(name)}, input))"
                )
                async_methods.append(
                    f"    async def {py}(self, **input: Unpack[{input_name}]) -> {result}:\n"
                    f"        {summary}\n"
                    f"        return cast({quoted(result)}, await self.request({json.dumps(name)}, input))"
                )
        return table, sync_methods, async_methods


def one_line(text: str) -> str:
    return " ".join(text.split())


def quoted(t: str) -> str:
    return json.dumps(t)


def generate(doc: dict[str, Any]) -> str:
    g = Generator(doc)
    # Component object schemas keep their own names: take them out of `taken` just for their own emit.
    for name in list(g.schemas):
        g.taken.discard(name)
    for name, schema in g.schemas.items():
        g.taken.add(name)
        if isinstance(schema, dict) and schema.get("properties"):
            g.typed_dict(name, schema, 1)
        else:
            g.classes.append(f"{name}: TypeAlias = {g.type_of(schema, name + 'Value')}")
    table, sync_methods, async_methods = g.operations()
    return render(g, table, sync_methods, async_methods)


def render(g: Generator, table: list[str], sync_methods: list[str], async_methods: list[str]) -> str:
    codes = g.schemas.get("Error", {}).get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum", [])
    info = g.doc.get("info", {})
    head = f'''"""Generated by packages/python/scripts/generate_models.py from tidepool's /openapi.json. Do not edit."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypedDict, cast

from typing_extensions import NotRequired, Required, TypeAlias, Unpack

API_VERSION = {json.dumps(info.get("version", ""))}
ERROR_CODES: tuple[str, ...] = {tuple(codes)!r}


class Operation(NamedTuple):
    """How one operation goes over HTTP."""

    method: str
    path: str
    path_params: tuple[str, ...]
    fixed_query: dict[str, str]
    body: str  # "json" | "raw" | "none"
    raw_content_type: str
    output: str  # "json" | "raw" | "none"
    stream: bool  # can answer NDJSON (Accept: application/x-ndjson)
    scope: str
'''
    parts = [head, *g.classes]
    parts.append("OPERATIONS: dict[str, Operation] = {\n" + "\n".join(table) + "\n}")
    parts.append(
        "class SyncOperations:\n"
        '    """Every operation as a method of the sync client (inputs and results as on the wire)."""\n\n'
        "    def request(self, op: str, input: Any = None) -> Any:\n"
        "        raise NotImplementedError\n\n" + "\n\n".join(sync_methods)
    )
    parts.append(
        "class AsyncOperations:\n"
        '    """Every operation as a coroutine method of the async client."""\n\n'
        "    async def request(self, op: str, input: Any = None) -> Any:\n"
        "        raise NotImplementedError\n\n" + "\n\n".join(async_methods)
    )
    return "\n\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", nargs="?", default=str(DEFAULT_SOURCE), help="openapi.json path or URL")
    ap.add_argument("-o", "--out", default=str(DEFAULT_OUT))
    ap.add_argument("--check", action="store_true", help="fail when the output file differs")
    args = ap.parse_args(argv)
    text = generate(load(args.source))
    out = Path(args.out)
    if args.check:
        if not out.exists() or out.read_text() != text:
            print(f"{out} is out of date: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
