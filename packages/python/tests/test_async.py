"""The asyncio client: AsyncSandbox with streamed commands (async callbacks), background, files, pages."""

from __future__ import annotations

import asyncio
import uuid

from conftest import Server
from tidepool import AsyncClient, AsyncSandbox


def test_async_sandbox_end_to_end(tp: Server) -> None:
    async def main() -> None:
        tag = uuid.uuid4().hex[:10]
        async with AsyncClient() as client:
            async with await AsyncSandbox.create(timeout_ms=120_000, metadata={"suite": tag}, client=client) as sbx:
                chunks: list[str] = []

                async def on_stdout(data: str) -> None:
                    await asyncio.sleep(0)
                    chunks.append(data)

                r = await sbx.commands.run("echo one; sleep 0.1; echo two", on_stdout=on_stdout)
                assert r["exitCode"] == 0 and "".join(chunks) == "one\ntwo\n" == r["stdout"]

                handle = await sbx.commands.run(["sleep", "600"], background=True)
                assert await handle.kill() is True
                assert (await handle.wait())["exitCode"] != 0

                data = bytes(range(256))
                await sbx.files.write("/tmp/a.bin", data)
                assert await sbx.files.read("/tmp/a.bin", format="bytes") == data
                assert await sbx.files.exists("/tmp/a.bin")

                pages = [p async for p in AsyncSandbox.list(query={"metadata": {"suite": tag}}, limit=1, client=client)]
                assert [[s["id"] for s in p] for p in pages] == [[sbx.sandbox_id]]
                results = await asyncio.gather(*(sbx.commands.run(f"echo {i}") for i in range(4)))
                assert [x["stdout"] for x in results] == [f"{i}\n" for i in range(4)]

    asyncio.run(main())
