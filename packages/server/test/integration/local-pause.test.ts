/**
 * Pause keeps everything (issue #10 part 6): a sandbox keeps every file across 20 pause/resume cycles
 * with writes between them and a restart of the control plane in the middle (a new LocalRuntime on the
 * same data dir adopts the paused sandbox), and a process started before the first pause lives through all.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { LocalRuntime } from '../../src/runtime/local/local-runtime.js'
import type { RuntimeRef } from '../../src/runtime/runtime.js'
import { run } from '../../src/runtime/runtime.suite.js'

const skip = process.getuid?.() !== 0 ? 'the local runtime needs root (namespaces, overlay mounts, cgroups); run the tests as root' : undefined
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-pause-'))
const cgroupName = `tidepool-pause-${process.pid}`
const runtimes: LocalRuntime[] = []
const newRuntime = () => {
  const rt = new LocalRuntime({ dataDir, cgroupName })
  runtimes.push(rt)
  return rt
}

afterAll(async () => {
  for (const rt of runtimes) rt.close()
  await runtimes.at(-1)?.removeCgroupParents()
  rmSync(dataDir, { recursive: true, force: true })
})

describe.skipIf(Boolean(skip))('LocalRuntime pause that keeps everything', () => {
  it('keeps every file over 20 pause/resume cycles with writes between and a runtime restart in the middle', async () => {
    let rt = newRuntime()
    const ref: RuntimeRef = await rt.start({ id: `sbx_pause${process.pid}`, template: { name: 'base', rootfs: 'host' }, resources: { cpu: 1, memoryMb: 128, pids: 64 }, denyRead: [] })
    const env = { PATH: '/usr/bin:/bin' }
    try {
      // A process that must outlive every cycle and the restart (the same pid at the end).
      const sleeper = rt.exec(ref, { cmd: ['sh', '-c', 'echo $$ > /tmp/sleeper.pid; exec sleep 100000'], env, user: 'user', timeoutMs: 600_000, detached: true, tag: 'sleeper' })
      sleeper.stdin.end()
      sleeper.stdout.resume()
      sleeper.stderr.resume()
      while ((await run(rt, ref, ['test', '-s', '/tmp/sleeper.pid'], { env })).exit.exitCode !== 0) await new Promise((r) => setTimeout(r, 5))
      const sleeperPid = (await run(rt, ref, ['cat', '/tmp/sleeper.pid'], { env })).stdout.trim()
      for (let i = 1; i <= 20; i++) {
        const w = await run(
          rt,
          ref,
          ['sh', '-c', `mkdir -p /home/user/c && printf '%s' ${i} > /home/user/c/f${i} && echo line${i} >> /home/user/log && rm -f /home/user/c/f${i - 1}.tmp && : > /home/user/c/f${i}.tmp`],
          { env, user: 'user' },
        )
        expect(w.exit.exitCode).toBe(0)
        await rt.pause(ref)
        expect(await rt.inspect(ref)).toBe('paused')
        if (i === 10) {
          // The control plane restarts while the sandbox is paused: a fresh runtime finds and adopts it.
          rt.close()
          rt = newRuntime()
          expect(await rt.list()).toContain(ref.id)
          expect(await rt.inspect(ref)).toBe('paused')
          expect((await rt.adopt(ref)).map((a) => a.tag)).toEqual(['sleeper'])
        }
        await rt.resume(ref)
        expect(await rt.inspect(ref)).toBe('running')
        const seen = await run(
          rt,
          ref,
          ['sh', '-c', 'for f in $(ls /home/user/c | sort -V); do printf "%s=%s " $f "$(cat /home/user/c/$f)"; done; echo; cat /home/user/log; cat /proc/$(cat /tmp/sleeper.pid)/comm'],
          { env, user: 'user' },
        )
        const files = Array.from({ length: i }, (_, k) => `f${k + 1}=${k + 1}`)
        files.push(`f${i}.tmp=`) // only the newest .tmp: each write removed the one before
        expect(seen.stdout).toBe(`${files.join(' ')} \n${Array.from({ length: i }, (_, k) => `line${k + 1}\n`).join('')}sleep\n`)
      }
      expect((await run(rt, ref, ['cat', '/tmp/sleeper.pid'], { env })).stdout.trim()).toBe(sleeperPid)
      // What the host holds is the sandbox's own layer: the files are in it, not in memory only.
      expect(readFileSync(join(dataDir, 'sandboxes', ref.id, 'upper', 'root', 'home', 'user', 'c', 'f20'), 'utf8')).toBe('20')
    } finally {
      await rt.destroy(ref.id, ref)
    }
    expect(existsSync(join(dataDir, 'sandboxes', ref.id))).toBe(false)
    expect(readFileSync('/proc/mounts', 'utf8')).not.toContain(ref.id)
  })
})
