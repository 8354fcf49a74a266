/**
 * Templates for real (LocalRuntime, HTTP on loopback): a copy and a run step on the host base are built
 * into layers, a sandbox started from the template's last layer sees both, a rebuild is a cache hit, and
 * deleting the template leaves no snapshot, sandbox, mount or cgroup.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Template, type TemplateBuildEvent } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-templates-${process.pid}`
let home: string
let cp: ControlPlane
let conn: { baseUrl: string; token: string }

describe.skipIf(skipReason)('templates (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-templates-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    conn = { baseUrl: (await cp.listen()).url, token: cp.adminToken! }
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('builds copy + run layers on the host base, starts a sandbox from them, and deletes without leftovers', async () => {
    const runtime = cp.svc.runtime
    if (!runtime.snapshots) throw new Error('LocalRuntime has no snapshots: template layers cannot be built')
    const spec = {
      name: 'it-app',
      steps: [
        { copy: { path: '/opt/app/hello.txt', content: 'hello layer\n' } },
        { env: { GREETING: 'hi' } },
        { run: 'cat /opt/app/hello.txt > /opt/app/copied.txt && echo "$GREETING" > /opt/app/greeting.txt && echo built' },
      ],
    }
    const events: TemplateBuildEvent[] = []
    const t = await Template.build(spec, { ...conn, onProgress: (e) => void events.push(e) })
    expect(t.layers).toHaveLength(2)
    expect(events.some((e) => e.phase === 'output' && e.line === 'built')).toBe(true)
    expect(t.layers.every((l) => l.bytes > 0)).toBe(true)

    const resolved = await cp.svc.templates.resolve('default', 'it-app')
    expect(resolved.spec.layers).toBeUndefined()
    expect(resolved.fromSnapshot).toMatch(/^tpl_/)
    const id = `sbx_ittpl${process.pid}`
    const ref = await runtime.start({ id, template: resolved.spec, fromSnapshot: resolved.fromSnapshot!, resources: { cpu: 1, memoryMb: 256, pids: 64, diskMb: 256 }, denyRead: [] })
    try {
      const h = runtime.exec(ref, { cmd: ['/bin/sh', '-c', 'cat /opt/app/hello.txt /opt/app/copied.txt /opt/app/greeting.txt'], env: { PATH: '/usr/bin:/bin' }, user: 'root', timeoutMs: 10_000 })
      h.stdin.end()
      const chunks: Buffer[] = []
      h.stdout.on('data', (c: Buffer) => chunks.push(c))
      h.stderr.resume()
      expect((await h.wait()).exitCode).toBe(0)
      expect(Buffer.concat(chunks).toString()).toBe('hello layer\nhello layer\nhi\n')
    } finally {
      await runtime.destroy(id, ref)
    }

    const again = await Template.build(spec, conn)
    expect(again.lastBuild).toMatchObject({ cachedSteps: 2, builtSteps: 0 })
    expect(again.digest).toBe(t.digest)

    await Template.delete('it-app', conn)
    expect((await runtime.snapshots.list()).filter((s) => s.startsWith('tpl_'))).toEqual([])
    expect((await runtime.list()).filter((s) => s.startsWith('tpb_'))).toEqual([])
    expect(leftovers(cgroupName, [id])).toEqual([])
  })
})
