/** A clean stop of `tidepool up` with no sandbox left leaves nothing of the runtime on the host (real runtime). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-stop-${process.pid}`
const home = mkdtempSync(join(tmpdir(), 'tidepool-it-stop-'))
const mountsUnder = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(dir))

describe.skipIf(skipReason)('a clean stop', () => {
  afterAll(async () => {
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('after the last sandbox is gone, unmounts the disk pool and removes the parent cgroups', async () => {
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 64 } } })
    const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const call = (method: string, path: string, body?: unknown) =>
      cp.app.request(path, { method, headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
    const s = (await (await call('POST', '/v1/sandboxes', {})).json()) as { id: string }
    expect(mountsUnder(home).length).toBeGreaterThan(0) // the sandbox's root and its disk pool
    expect((await call('DELETE', `/v1/sandboxes/${s.id}`)).status).toBe(204)
    await cp.close()
    expect(mountsUnder(home)).toEqual([])
    expect(leftovers(cgroupName, [s.id])).toEqual([])
  })
})
