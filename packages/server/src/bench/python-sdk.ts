/**
 * @module bench/python-sdk — the Python SDK's `sbx.commands.run(["true"])` round trip beside the TypeScript
 * SDK's, interleaved in one run on one sandbox (target: Python p50 <= 1.5x TypeScript's).
 * Needs the Python SDK's venv: `packages/python/scripts/test.sh --setup-only` (npm test makes it).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Sandbox } from '@tidepool/sdk'
import { loadConfig } from '../config.js'
import { childEnv } from '../core/child-env.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane } from '../main.js'
import { namespacesLevel } from '../runtime/isolating-runtime.js'
import { LocalRuntime } from '../runtime/local/local-runtime.js'
import { machine, metric, type BenchResult } from './result.js'

const samples = 200
const warmup = 20
const pythonDir = fileURLToPath(new URL('../../../python/', import.meta.url))

export async function run(): Promise<BenchResult> {
  const venvPython = join(process.env.TIDEPOOL_PY_VENV ?? join(pythonDir, '.venv'), 'bin', 'python')
  if (!existsSync(venvPython)) throw new Error(`${venvPython} missing: run packages/python/scripts/test.sh --setup-only`)
  const home = mkdtempSync(join(tmpdir(), 'tidepool-bench-py-'))
  const cgroupName = `tidepool-bench-py-${process.pid}`
  const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 512, pids: 256 } } })
  const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
  const py = spawn(venvPython, [join(pythonDir, 'scripts', 'bench_exec.py')], { env: childEnv(), stdio: ['pipe', 'pipe', 'inherit'] })
  try {
    const { url } = await cp.listen()
    const token = cp.adminToken!
    const sbx = await Sandbox.create({ apiUrl: url, apiKey: token })
    // One reply line per request: the Python side's own timing, so process start and pipes are not counted.
    const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]()
    const reply = async (): Promise<string> => {
      const next = await lines.next()
      if (next.done) throw new Error('the Python bench process ended early')
      return next.value
    }
    py.stdin.write(`${JSON.stringify({ url, token, id: sbx.sandboxId })}\n`)
    if ((await reply()) !== 'ready') throw new Error('the Python bench process did not start')
    const times = { ts: [] as number[], py: [] as number[] }
    for (let i = 0; i < warmup + samples; i++) {
      // Interleaved: each round times both, so drift on a shared machine hits them alike.
      const t = performance.now()
      const r = await sbx.commands.run(['true'])
      const tsMs = performance.now() - t
      if (r.exitCode !== 0) throw new Error(`exec true exited ${r.exitCode}`)
      py.stdin.write('run\n')
      const pyMs = Number(await reply())
      if (!Number.isFinite(pyMs)) throw new Error('the Python bench process failed')
      if (i >= warmup) {
        times.ts.push(tsMs)
        times.py.push(pyMs)
      }
    }
    py.stdin.end()
    await sbx.kill()
    const tsP50 = metric('x', 'ms', times.ts).p50
    return {
      name: 'python-sdk',
      at: new Date().toISOString(),
      machine: machine(),
      metrics: [
        metric('exec `true` via the TypeScript SDK', 'ms', times.ts),
        metric('exec `true` via the Python SDK (httpx, sync)', 'ms', times.py, {
          target: `p50 <= 1.5x TypeScript SDK (${Math.round(tsP50 * 1.5 * 1000) / 1000} ms)`,
          peer: { name: 'TypeScript SDK exec', p50: tsP50 },
        }),
      ],
    }
  } finally {
    if (py.exitCode === null) py.kill()
    await cp.close()
    const local = namespacesLevel(cp.svc.runtime)
    if (local instanceof LocalRuntime) await local.removeCgroupParents()
    rmSync(home, { recursive: true, force: true })
  }
}
