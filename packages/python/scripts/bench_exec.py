#!/usr/bin/env python3
"""The Python side of bench/python-sdk.ts: times ``sbx.commands.run(["true"])`` on request.

Reads one JSON line ``{"url", "token", "id"}`` from stdin (the token stays off argv), answers ``ready``, then
for every ``run`` line runs the command once and prints the round trip in ms; ends at EOF.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tidepool import Client, Sandbox  # noqa: E402

MAX_ROUNDS = 1_000_000


def main() -> int:
    setup = json.loads(sys.stdin.readline())
    with Client(setup["url"], setup["token"]) as client:
        sbx = Sandbox.connect(setup["id"], client=client)
        print("ready", flush=True)
        for _ in range(MAX_ROUNDS):
            line = sys.stdin.readline()
            if not line:
                break
            t = time.perf_counter()
            r = sbx.commands.run(["true"])
            elapsed = (time.perf_counter() - t) * 1000
            if r["exitCode"] != 0:
                print(f"error exit {r['exitCode']}", flush=True)
                return 1
            print(f"{elapsed:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
