/**
 * The gvisor isolation level through the real API: chosen per sandbox in the create, defaulted by
 * runtime.defaultIsolation, required by a Cedar policy (examples/policy/untrusted-gvisor.cedar); exec,
 * files and destroy on a gVisor sandbox, nothing left behind.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApiError, createClient, type Api } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { findRunsc } from '../../src/runtime/gvisor/runsc.js'
import { cliRunner } from './support/cli.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const skip = skipReason ?? (findRunsc() === undefined ? 'runsc is not installed; run scripts/install-runsc.sh (the setup does) to test the gvisor isolation level' : undefined)
const example = fileURLToPath(new URL('../../../../examples/policy/untrusted-gvisor.cedar', import.meta.url))
const cgroupName = `tidepool-it-gviso-${process.pid}`
let home: string
let cp: ControlPlane
let admin: Api
let untrusted: Api
const ids: string[] = []

async function refusal(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  return err as ApiError
}

describe.skipIf(Boolean(skip))('isolation levels through the API (real runtime, real runsc)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-gviso-'))
    const policyFile = join(home, 'untrusted-gvisor.cedar')
    copyFileSync(example, policyFile)
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 256, pids: 128 }, policy: { files: [policyFile] } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const url = (await cp.listen()).url
    admin = createClient({ baseUrl: url, token: cp.adminToken! })
    const token = (await admin.createToken({ project: 'default', scopes: ['sandboxes:read', 'sandboxes:write'], name: 'agent-9 untrusted=yes' })).token
    untrusted = createClient({ baseUrl: url, token })
  })
  afterAll(async () => {
    if (cp) {
      for (const id of ids) await admin.deleteSandbox({ id }).catch(() => {})
      await cp.close()
      await cp.svc.runtime.releaseIdle?.()
    }
    await destroyAll(join(home, 'runtime'), cgroupName)
    expect(leftovers(cgroupName, ids)).toEqual([])
    expect(leftovers(`${cgroupName}-gvisor`, ids)).toEqual([])
    rmSync(home, { recursive: true, force: true })
  })

  it('runs a sandbox with isolation gvisor in gVisor, and one without in namespaces (the default)', async () => {
    const g = await admin.createSandbox({ isolation: 'gvisor' })
    const n = await admin.createSandbox({})
    ids.push(g.id, n.id)
    const kernel = async (id: string) => (await admin.exec({ id, cmd: ['uname', '-r'] })).stdout.trim()
    expect(await kernel(g.id)).toMatch(/gvisor/)
    expect(await kernel(n.id)).not.toMatch(/gvisor/)
    await admin.writeFile({ id: g.id, path: '/tmp/hello.txt', content: 'from the host' })
    expect((await admin.exec({ id: g.id, cmd: ['cat', '/tmp/hello.txt'] })).stdout).toBe('from the host')
  })

  it('a policy can require gvisor: an untrusted token is refused a namespaces sandbox, and gets a gvisor one', async () => {
    const err = await refusal(untrusted.createSandbox({}))
    expect(err.code).toBe('policy_denied')
    expect(err.message).toMatch(/untrusted-needs-gvisor/)
    const err2 = await refusal(untrusted.createSandbox({ isolation: 'namespaces' }))
    expect(err2.code).toBe('policy_denied')
    const ok = await untrusted.createSandbox({ isolation: 'gvisor' })
    ids.push(ok.id)
    expect((await untrusted.exec({ id: ok.id, cmd: ['uname', '-r'] })).stdout).toMatch(/gvisor/)
  })

  it('refuses what gvisor sandboxes cannot do with a clear error, and a bad isolation value', async () => {
    const g = await admin.createSandbox({ isolation: 'gvisor' })
    ids.push(g.id)
    const snap = await refusal(admin.createSnapshot({ id: g.id }))
    expect(snap.code).toBe('invalid_request')
    expect(snap.message).toMatch(/gvisor/)
    const bad = await refusal(admin.createSandbox({ isolation: 'vm' as never }))
    expect(bad.code).toBe('invalid_request')
    const net = await refusal(admin.createSandbox({ isolation: 'gvisor', network: { allowedDomains: ['example.com'], deniedDomains: [] } }))
    expect(net.code).toBe('invalid_request')
  })

  it('tidepool doctor says whether the gvisor level is available (here: runsc runs a sandbox)', async () => {
    const cli = cliRunner({ PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_HOME: home, TIDEPOOL_CGROUP_NAME: cgroupName })
    const r = await cli('doctor', '--json')
    const report = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; optional?: boolean; detail: string }[] }
    const gv = report.checks.filter((c) => c.name.startsWith('gvisor:'))
    expect(gv.map((c) => c.name)).toEqual(['gvisor: runsc', 'gvisor: cgroups', 'gvisor: runsc do (platform systrap)'])
    expect(gv.every((c) => c.ok && c.optional === true)).toBe(true)
  })

  it('destroy leaves nothing of a gvisor sandbox', async () => {
    const g = await admin.createSandbox({ isolation: 'gvisor' })
    await admin.exec({ id: g.id, cmd: ['sh', '-c', 'sleep 1000 & echo started'] })
    await admin.deleteSandbox({ id: g.id })
    // Other tests' sandboxes are still alive under the same parent: only this one's traces count here.
    expect(leftovers(`${cgroupName}-gvisor`, [g.id]).filter((t) => t.includes(g.id))).toEqual([])
    expect(existsSync(join(home, 'runtime', 'gvisor', 'sandboxes', g.id))).toBe(false)
  })
})
