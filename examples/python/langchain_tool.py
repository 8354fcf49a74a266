"""A LangChain-style tool that runs code in a tidepool sandbox (the shape only: no LangChain dependency).

LangChain's ``BaseTool`` wants ``name``, ``description``, an argument schema and ``_run``; an agent
framework calls ``invoke({"code": ...})`` and feeds the string back to the model. Subclass
``langchain_core.tools.BaseTool`` instead of ``object`` to plug this into a real agent.

    export TIDEPOOL_URL=http://127.0.0.1:7070 TIDEPOOL_TOKEN=$(cat ~/.tidepool/admin.token)
    python examples/python/langchain_tool.py
"""

from __future__ import annotations

import shlex
from typing import Any

from tidepool import Sandbox

MAX_OUTPUT_CHARS = 4000  # what goes back into the model's context


class SandboxCodeTool:
    name = "run_code"
    description = (
        "Run a Python 3 or shell snippet in an isolated Linux sandbox and return its exit code, stdout and "
        "stderr. Files persist between calls (working directory /home/user)."
    )
    args_schema: dict[str, Any] = {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "The program to run."},
            "language": {"type": "string", "enum": ["python", "sh"], "default": "python"},
        },
        "required": ["code"],
    }

    def __init__(self, timeout_ms: int = 30_000) -> None:
        self.timeout_ms = timeout_ms
        self._sandbox: Sandbox | None = None

    @property
    def sandbox(self) -> Sandbox:
        # One sandbox per tool instance, made on first use, so consecutive calls share files.
        if self._sandbox is None:
            self._sandbox = Sandbox.create(timeout_ms=600_000, metadata={"tool": self.name})
        return self._sandbox

    def _run(self, code: str, language: str = "python") -> str:
        path = "/home/user/snippet.py" if language == "python" else "/home/user/snippet.sh"
        self.sandbox.files.write(path, code)
        runner = "python3" if language == "python" else "sh"
        r = self.sandbox.commands.run(f"cd /home/user && {runner} {shlex.quote(path)}", timeout_ms=self.timeout_ms)
        text = f"exit code {r['exitCode']}{' (timed out)' if r.get('timedOut') else ''}\n--- stdout\n{r['stdout']}--- stderr\n{r['stderr']}"
        return text if len(text) <= MAX_OUTPUT_CHARS else text[: MAX_OUTPUT_CHARS // 2] + "\n…\n" + text[-MAX_OUTPUT_CHARS // 2 :]

    def invoke(self, input: dict[str, Any]) -> str:
        return self._run(str(input["code"]), str(input.get("language", "python")))

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.kill()
            self._sandbox = None


if __name__ == "__main__":
    tool = SandboxCodeTool()
    try:
        # The default template may lack python3: fall back to the shell there.
        has_python = tool.invoke({"code": "command -v python3 >/dev/null", "language": "sh"}).startswith("exit code 0")
        if has_python:
            print(tool.invoke({"code": "import platform\nprint('hello from', platform.system(), platform.release())"}))
        else:
            print(tool.invoke({"code": "echo hello from $(uname -sr)", "language": "sh"}))
        print(tool.invoke({"code": "ls -l /home/user", "language": "sh"}))
    finally:
        tool.close()
