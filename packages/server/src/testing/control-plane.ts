/** @module testing/control-plane — a control plane on :memory: SQLite for tests, with a movable clock. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../config.js'
import { silentLogger } from '../core/log.js'
import { buildControlPlane, type ControlPlane } from '../main.js'
import type { Runtime } from '../runtime/runtime.js'

export interface TestPlane extends ControlPlane {
  home: string
  admin: string
  clock: { now(): number; advance(ms: number): void }
  /** app.request with the bearer token and JSON handling. */
  call(method: string, path: string, opts?: { token?: string | null; body?: unknown; raw?: Uint8Array | string; headers?: Record<string, string> }): Promise<Response>
  dispose(): Promise<void>
}

export async function testPlane(runtime: Runtime, overrides: Record<string, unknown> = {}): Promise<TestPlane> {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-test-'))
  let t = Date.parse('2026-01-01T00:00:00Z')
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) }
  const config = loadConfig({ env: {}, overrides: { home, storeUrl: ':memory:', logLevel: 'silent', ...overrides } })
  const cp = await buildControlPlane(config, { runtime, clock, logger: silentLogger, reaper: false })
  const admin = cp.adminToken!
  const call: TestPlane['call'] = (method, path, opts = {}) => {
    const headers: Record<string, string> = { ...opts.headers }
    const token = opts.token === undefined ? admin : opts.token
    if (token) headers.authorization = `Bearer ${token}`
    let body: string | Uint8Array | undefined
    if (opts.raw !== undefined) body = opts.raw
    else if (opts.body !== undefined) {
      body = JSON.stringify(opts.body)
      headers['content-type'] = 'application/json'
    }
    return Promise.resolve(cp.app.request(path, { method, headers, ...(body !== undefined ? { body: body as never } : {}) }))
  }
  return {
    ...cp,
    home,
    admin,
    clock,
    call,
    dispose: async () => {
      await cp.close()
      rmSync(home, { recursive: true, force: true })
    },
  }
}
