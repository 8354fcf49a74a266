/**
 * @module runtime/snapshot.suite — the snapshot part of the runtime suite (runtime.suite.ts runs it):
 * RuntimeSnapshots, SandboxSpec.fromSnapshot and TemplateSpec.layers, for every runtime that has
 * snapshots (a runtime without them skips each test, saying so).
 */
import { type TestContext, afterAll, describe, expect } from 'vitest'
import type { RuntimeRef, RuntimeSnapshots, SandboxSpec } from './runtime.js'
import type { RunResult } from './runtime.suite.js'

export interface SnapshotSuiteDeps {
  /** The suite's `it` (it honours the implementation's declared skips). */
  it: (name: string, fn: (ctx: TestContext) => Promise<void>) => void
  rt: () => {
    snapshots?: RuntimeSnapshots
    start(spec: SandboxSpec): Promise<RuntimeRef>
    pause(r: RuntimeRef): Promise<void>
    resume(r: RuntimeRef): Promise<void>
    inspect(r: RuntimeRef): Promise<string>
    list(): Promise<string[]>
  }
  /** A sandbox of the suite (destroyed at its end) with the base template unless `over` says otherwise. */
  start: (over?: Partial<SandboxSpec>) => Promise<RuntimeRef>
  destroy: (ref: RuntimeRef) => Promise<void>
  sh: (ref: RuntimeRef, script: string, user?: 'user' | 'root') => Promise<RunResult>
  traces?: (id: string, ref: RuntimeRef) => Promise<string[]>
  snapshotTraces?: (id: string) => Promise<string[]>
}

export function snapshotSuite(d: SnapshotSuiteDeps): void {
  describe('snapshots', () => {
    const made = new Set<string>()
    let seq = 0
    const newSnapId = () => `snp_suite${process.pid.toString(36)}${(seq++).toString(36)}`
    /** A test of snapshots: skipped (with the reason) on a runtime that has none. */
    const it = (name: string, fn: (s: RuntimeSnapshots) => Promise<void>) =>
      d.it(name, async (ctx) => {
        const s = d.rt().snapshots
        if (!s) return ctx.skip('this runtime has no snapshots (Runtime.snapshots is undefined)')
        await fn(s)
      })
    const snap = async (s: RuntimeSnapshots, ref: RuntimeRef) => {
      const id = newSnapId()
      made.add(id)
      return s.create(ref, id)
    }
    /** stdout of a script that must succeed. */
    const out = async (ref: RuntimeRef, script: string, user: 'user' | 'root' = 'root') => {
      const r = await d.sh(ref, script, user)
      expect(r.stderr).toBe('')
      expect(r.exit.exitCode).toBe(0)
      return r.stdout
    }

    afterAll(async () => {
      const s = d.rt()?.snapshots
      for (const id of made) await s?.delete(id)
    })

    it('a snapshot taken while a process writes holds complete files; a sandbox started from it sees them exactly', async (s) => {
      const parent = await d.start()
      await out(parent, 'mkdir -p /home/user/proj && printf hello > /home/user/proj/a.txt && chmod 640 /home/user/proj/a.txt && ln -s a.txt /home/user/proj/link', 'user')
      await out(parent, 'printf secret > /etc/rootfile && chmod 600 /etc/rootfile && mkdir -m 711 /opt/x && chown 1000:1000 /opt/x')
      // A writer appending one whole line per write() while the snapshot is taken (bounded: 100000 lines).
      const writer = d.sh(parent, 'i=0; while [ ! -e /tmp/stop ] && [ $i -lt 100000 ]; do i=$((i+1)); echo "line $i of the writer" >> /tmp/log; done; echo done', 'user')
      while ((await d.sh(parent, 'test -s /tmp/log')).exit.exitCode !== 0) await new Promise((r) => setTimeout(r, 5))
      const a = await snap(s, parent)
      await out(parent, 'touch /tmp/stop')
      expect((await writer).stdout).toBe('done\n')
      const fork = await d.start({ fromSnapshot: a.id })
      expect(
        await out(fork, 'cat /home/user/proj/a.txt; echo; stat -c "%U %G %a %s" /home/user/proj/a.txt; readlink /home/user/proj/link; cat /etc/rootfile; echo; stat -c "%u %a" /etc/rootfile /opt/x'),
      ).toBe('hello\nuser user 640 5\na.txt\nsecret\n0 600\n1000 711\n')
      const log = (await out(fork, 'cat /tmp/log; test ! -e /tmp/stop')).split('\n')
      expect(log.pop()).toBe('') // ends with a whole line
      expect(log.length).toBeGreaterThan(0)
      expect(log.filter((l, i) => l !== `line ${i + 1} of the writer`)).toEqual([])
      expect(await out(fork, 'id -un; echo ok > /home/user/new && cat /home/user/new', 'user')).toBe('user\nok\n')
    })

    it('changes after a snapshot reach neither the parent, nor the snapshot, nor a sibling, and the other way round', async (s) => {
      const parent = await d.start()
      await out(parent, 'echo v1 > /tmp/shared')
      const a = await snap(s, parent)
      const child = await d.start({ fromSnapshot: a.id })
      await out(child, 'echo child > /tmp/shared; echo c > /tmp/childonly')
      await out(parent, 'echo parent > /tmp/shared; echo p > /tmp/parentonly')
      const sibling = await d.start({ fromSnapshot: a.id })
      const show = 'cat /tmp/shared; ls /tmp/childonly /tmp/parentonly 2>/dev/null || true'
      expect(await out(sibling, show)).toBe('v1\n')
      expect(await out(child, show)).toBe('child\n/tmp/childonly\n')
      expect(await out(parent, show)).toBe('parent\n/tmp/parentonly\n')
    })

    it('files deleted in the parent before the snapshot stay deleted in a sandbox started from it', async (s) => {
      const parent = await d.start()
      expect(await out(parent, 'test -f /etc/os-release && echo yes')).toBe('yes\n')
      await out(parent, 'rm /etc/os-release; echo x > /tmp/gone; rm /tmp/gone; mkdir -p /srv/d && echo old > /srv/d/f')
      const a = await snap(s, parent)
      await out(parent, 'rm -r /srv/d')
      const b = await snap(s, parent)
      const fromA = await d.start({ fromSnapshot: a.id })
      expect(await out(fromA, 'ls /etc/os-release /tmp/gone 2>&1 | grep -c "No such file"; cat /srv/d/f')).toBe('2\nold\n')
      const fromB = await d.start({ fromSnapshot: b.id })
      expect(await out(fromB, 'test -e /srv/d || echo absent')).toBe('absent\n')
    })

    it('deleting a snapshot a running sandbox started from leaves that sandbox its files', async (s) => {
      const parent = await d.start()
      await out(parent, 'head -c 100000 /dev/zero | tr "\\0" z > /tmp/big; echo keep > /tmp/small')
      const a = await snap(s, parent)
      const fork = await d.start({ fromSnapshot: a.id })
      await s.delete(a.id)
      expect(await s.get(a.id)).toBeUndefined()
      expect(await out(fork, 'cat /tmp/small; wc -c < /tmp/big; echo more >> /tmp/small; cat /tmp/small')).toBe('keep\n100000\nkeep\nmore\n')
    })

    it('get and list follow create and delete; delete is idempotent', async (s) => {
      const parent = await d.start()
      const a = await snap(s, parent)
      expect(a).toMatchObject({ id: expect.stringMatching(/^snp_suite/), layer: expect.any(String) })
      expect(a.bytes).toBeGreaterThanOrEqual(0)
      expect(a.exclusiveBytes).toBeGreaterThanOrEqual(0)
      expect(a.exclusiveBytes).toBeLessThanOrEqual(a.bytes)
      expect(await s.get(a.id)).toEqual(a)
      expect(await s.list()).toContain(a.id)
      await s.delete(a.id)
      await s.delete(a.id)
      await s.delete('snp_neverexisted')
      await s.delete('../not-an-id')
      expect(await s.get(a.id)).toBeUndefined()
      expect(await s.list()).not.toContain(a.id)
    })

    it('refuses a duplicate id (invalid_request), a gone sandbox and an unknown snapshot (not_found), leaving nothing', async (s) => {
      const parent = await d.start()
      const a = await snap(s, parent)
      await expect(s.create(parent, a.id)).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringContaining(a.id) })
      await expect(s.create(parent, '../x')).rejects.toMatchObject({ code: 'invalid_request' })
      await d.destroy(parent)
      const late = newSnapId()
      await expect(s.create(parent, late)).rejects.toMatchObject({ code: 'not_found' })
      expect(await s.list()).not.toContain(late)
      const before = await d.rt().list()
      await expect(d.start({ fromSnapshot: 'snp_neverexisted' })).rejects.toMatchObject({ code: 'not_found', message: expect.stringContaining('snp_neverexisted') })
      expect(await d.rt().list()).toEqual(before)
    })

    it("a snapshot's layer works as a template layer: the last layer is topmost, the sandbox writes above them all", async (s) => {
      const one = await d.start()
      await out(one, 'mkdir -p /opt/app && echo 1 > /opt/app/v && echo a > /opt/app/a && rm /etc/os-release')
      const l1 = await snap(s, one)
      const two = await d.start({ template: { name: 'base+1', rootfs: 'host', layers: [l1.layer] } })
      expect(await out(two, 'cat /opt/app/v /opt/app/a; test -e /etc/os-release || echo whiteout')).toBe('1\na\nwhiteout\n')
      await out(two, 'echo 2 > /opt/app/v')
      const l2 = await snap(s, two) // holds only what `two` changed above l1
      const both = await d.start({ template: { name: 'base+1+2', rootfs: 'host', layers: [l1.layer, l2.layer] } })
      expect(await out(both, 'cat /opt/app/v /opt/app/a')).toBe('2\na\n')
      const swapped = await d.start({ template: { name: 'base+2+1', rootfs: 'host', layers: [l2.layer, l1.layer] } })
      expect(await out(swapped, 'cat /opt/app/v')).toBe('1\n')
      await out(both, 'echo 3 > /opt/app/v')
      expect(await out(two, 'cat /opt/app/v')).toBe('2\n')
      expect(await out(one, 'cat /opt/app/v')).toBe('1\n')
      const before = await d.rt().list()
      await expect(d.start({ template: { name: 'broken', rootfs: 'host', layers: ['/nonexistent/tidepool-layer'] } })).rejects.toMatchObject({
        code: 'invalid_request',
        message: expect.stringMatching(/layers\[0\].*\/nonexistent\/tidepool-layer does not exist/),
      })
      expect(await d.rt().list()).toEqual(before)
    })

    it('a paused sandbox stays paused after a snapshot, a running one keeps running', async (s) => {
      const parent = await d.start()
      await snap(s, parent)
      expect(await d.rt().inspect(parent)).toBe('running')
      await d.rt().pause(parent)
      const a = await snap(s, parent)
      expect(await d.rt().inspect(parent)).toBe('paused')
      await d.rt().resume(parent)
      expect(await d.rt().inspect(parent)).toBe('running')
      expect(await s.get(a.id)).toBeDefined()
    })

    it('destroying the sandboxes and deleting the snapshot leaves nothing behind', async (s) => {
      const parent = await d.start()
      const a = await snap(s, parent)
      const fork = await d.start({ fromSnapshot: a.id })
      await d.destroy(parent)
      await d.destroy(fork)
      await s.delete(a.id)
      if (d.traces) expect([...(await d.traces(parent.id, parent)), ...(await d.traces(fork.id, fork))]).toEqual([])
      if (d.snapshotTraces) expect(await d.snapshotTraces(a.id)).toEqual([])
      expect(await s.list()).not.toContain(a.id)
    })
  })
}
