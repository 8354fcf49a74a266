/**
 * Snapshots, fork, pause/resume and the egress options of the unmodified `e2b` npm SDK against a real
 * tidepool: createSnapshot with a name, listSnapshots, Sandbox.create(snapshotId), fork with a count,
 * deleteSnapshot; pause keeps files; allowInternetAccess / network { allowOut, denyOut } as the policy.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Sandbox } from 'e2b'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { e2bEnv } from '../../src/cli/commands/e2b.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-e2bsnap-${process.pid}`
const vars = ['E2B_API_KEY', 'E2B_API_URL', 'E2B_SANDBOX_URL'] as const
let home: string
let cp: ControlPlane
let baseUrl: string
const saved: Record<string, string | undefined> = {}

describe.skipIf(skipReason)('e2b snapshots, fork, pause and network options against tidepool (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-e2bsnap-'))
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        runtime: { kind: 'local', cgroupName },
        defaults: { cpu: 1, memoryMb: 256, pids: 128 },
        network: { proxy: { enabled: true, httpPort: 0, socksPort: 0 } },
      },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    baseUrl = (await cp.listen()).url
    for (const [k, v] of Object.entries(e2bEnv(baseUrl, cp.adminToken!))) {
      saved[k] = process.env[k]
      process.env[k] = v
    }
  })
  afterAll(async () => {
    for (const k of vars) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('snapshots with a name, lists them, starts sandboxes from one, forks, and deletes', async () => {
    const sbx = await Sandbox.create({ metadata: { suite: 'e2b-snap' } })
    const made: Sandbox[] = []
    try {
      await sbx.files.write('/home/user/state.txt', 'before snapshot\n')
      const snap = await sbx.createSnapshot({ name: 'my-snapshot' })
      expect(snap.snapshotId).toMatch(/^snap_/)
      expect(snap.names).toEqual(['my-snapshot'])
      await sbx.files.write('/home/user/state.txt', 'after snapshot\n')

      const listed = await sbx.listSnapshots().nextItems()
      expect(listed).toContainEqual({ snapshotId: snap.snapshotId, names: ['my-snapshot'] })

      const fromSnap = await Sandbox.create(snap.snapshotId)
      made.push(fromSnap)
      expect(await fromSnap.files.read('/home/user/state.txt')).toBe('before snapshot\n')

      const forks = await sbx.fork({ count: 2 })
      expect(forks).toHaveLength(2)
      for (const f of forks) {
        expect(f).toBeInstanceOf(Sandbox)
        const child = f as Sandbox
        made.push(child)
        expect(child.sandboxId).not.toBe(sbx.sandboxId)
        expect(await child.files.read('/home/user/state.txt')).toBe('after snapshot\n')
        expect((await child.commands.run('echo forked')).stdout).toBe('forked\n')
      }

      // Pause keeps files and processes' state; connect resumes.
      await sbx.pause()
      expect((await sbx.getInfo()).state).toBe('paused')
      const resumed = await Sandbox.connect(sbx.sandboxId)
      expect((await resumed.getInfo()).state).toBe('running')
      expect(await resumed.files.read('/home/user/state.txt')).toBe('after snapshot\n')

      for (const s of made.splice(0)) await s.kill()
      expect(await Sandbox.deleteSnapshot(snap.snapshotId)).toBe(true)
      expect((await sbx.listSnapshots().nextItems()).map((s) => s.snapshotId)).not.toContain(snap.snapshotId)
    } finally {
      for (const s of made) await s.kill()
      await sbx.kill()
    }
  })

  it('maps allowInternetAccess and network { allowOut, denyOut } onto the egress policy, refusing IP ranges', async () => {
    const closed = await Sandbox.create({ allowInternetAccess: false })
    const listed = await Sandbox.create({ network: { denyOut: ['0.0.0.0/0'], allowOut: ['registry.npmjs.org'] } })
    try {
      expect(await policyOf(closed.sandboxId)).toEqual({ allowedDomains: [], deniedDomains: [] })
      expect(await policyOf(listed.sandboxId)).toEqual({ allowedDomains: ['registry.npmjs.org'], deniedDomains: [] })
    } finally {
      await closed.kill()
      await listed.kill()
    }
    await expect(Sandbox.create({ network: { allowOut: ['10.0.0.0/8'] } })).rejects.toThrow(/IP range/)
  })
})

/** The sandbox's own egress policy level, as tidepool's own API shows it. */
async function policyOf(id: string): Promise<unknown> {
  const r = await fetch(`${baseUrl}/v1/sandboxes/${id}/network`, { headers: { authorization: `Bearer ${cp.adminToken}` } })
  expect(r.status).toBe(200)
  return ((await r.json()) as { policy: unknown }).policy
}
