/**
 * The server killed (SIGKILL) in the middle of a snapshot and of a template build, for real (a server
 * process). A snapshot on the copy layer driver (whose capture of a 300 MB layer takes long enough to
 * be cut): on restart the result is complete or none: no `creating` row, no capture without its
 * record, the sandbox thawed and running (not taken for paused), and nothing left once it is deleted.
 * A template build killed while its step runs: on restart the build is failed (none), its build
 * sandbox and layer captures are gone, and a new build succeeds.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createClient, Template } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 20) {
    if (await check()) return
    await sleep(20)
  }
  throw new Error(`timed out waiting until ${what}`)
}

const exited = (child: ReturnType<typeof spawn>) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)))
const mountsUnder = (dir: string) =>
  readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((mp) => mp.startsWith(dir))
const hostProcs = (marker: string) =>
  spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.includes(marker) && !l.includes('ps -eo'))

describe.skipIf(skipReason)('a server killed during a template build (real server process)', () => {
  it('on restart: the build failed (none), no build sandbox or layer capture is left, and a new build succeeds', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tidepool-it-tplcrash-'))
    const cg = `tidepool-it-tplcrash-${process.pid}`
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_HOME: home, TIDEPOOL_PORT: '0', TIDEPOOL_ROUTER_PORT: '0', TIDEPOOL_CGROUP_NAME: cg, TIDEPOOL_LOG_LEVEL: 'info' }
    const start = async () => {
      const child = spawn(process.execPath, [cliPath, 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      await until(() => /listening on (http:\/\/\S+)/.test(stderr), `the server starts (${stderr})`)
      return { child, url: /listening on (http:\/\/\S+)/.exec(stderr)![1]! }
    }
    const marker = `sleep 7${process.pid % 1000}`
    const spec = (run: string) => ({ name: 'it-crash', steps: [{ copy: { path: '/opt/app/a.txt', content: 'a\n' } }, { run }] })
    const runtimeDir = join(home, 'runtime')
    const layerDirs = () => {
      const dir = join(runtimeDir, 'sandboxes')
      const names = existsSync(dir) ? readdirSync(dir) : []
      const snaps = existsSync(join(dir, '.snapshots')) ? readdirSync(join(dir, '.snapshots')) : []
      return [...names.filter((n) => !n.startsWith('.')), ...snaps.map((n) => `.snapshots/${n}`)]
    }
    let server = await start()
    try {
      const token = readFileSync(join(home, 'admin.token'), 'utf8').trim()
      const building = Template.build(spec(`${marker} && echo done`), { baseUrl: server.url, token }).catch(() => 'lost with the server')
      await until(() => hostProcs(marker).length > 0, 'the build step runs')
      server.child.kill('SIGKILL')
      await exited(server.child)
      expect(await building).toBe('lost with the server')

      server = await start()
      const conn = { baseUrl: server.url, token }
      const got = await fetch(`${server.url}/v1/templates/it-crash`, { headers: { authorization: `Bearer ${token}` } })
      if (got.status === 200) expect(((await got.json()) as { lastBuild?: { state: string } }).lastBuild?.state).toBe('failed')
      else expect(got.status).toBe(404)
      await until(() => hostProcs(marker).length === 0, 'the interrupted step is gone with its build sandbox')
      expect(layerDirs()).toEqual([]) // no build sandbox, no layer capture
      const t = await Template.build(spec('echo done'), conn)
      expect(t.lastBuild?.state).toBe('ready')
      await Template.delete('it-crash', conn)
      expect(layerDirs()).toEqual([])
    } finally {
      server.child.kill('SIGTERM')
      await exited(server.child)
      await destroyAll(runtimeDir, cg)
      for (const mp of mountsUnder(home)) spawnSync('umount', ['-l', mp])
      rmSync(home, { recursive: true, force: true })
    }
  })
})

describe.skipIf(skipReason)('a server killed during a snapshot (real server process, copy driver)', () => {
  it('on restart: the snapshot is complete or absent, nothing half-made is left, and the sandbox runs', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tidepool-it-snapcrash-'))
    const cg = `tidepool-it-snapcrash-${process.pid}`
    writeFileSync(join(home, 'config.yaml'), 'runtime:\n  disk:\n    driver: copy\n')
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_HOME: home, TIDEPOOL_PORT: '0', TIDEPOOL_ROUTER_PORT: '0', TIDEPOOL_CGROUP_NAME: cg, TIDEPOOL_LOG_LEVEL: 'info' }
    const start = async () => {
      const child = spawn(process.execPath, [cliPath, 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      await until(() => /listening on (http:\/\/\S+)/.test(stderr), `the server starts (${stderr})`)
      return { child, url: /listening on (http:\/\/\S+)/.exec(stderr)![1]! }
    }
    const snapsDir = join(home, 'runtime', 'sandboxes', '.snapshots')
    const copying = () =>
      spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .stdout.split('\n')
        .filter((l) => l.startsWith('cp ') && l.includes(home))
    let server = await start()
    try {
      const token = readFileSync(join(home, 'admin.token'), 'utf8').trim()
      let api = createClient({ baseUrl: server.url, token })
      const sbx = await api.createSandbox({ timeoutMs: 600_000 })
      const fill = await api.exec({
        id: sbx.id,
        user: 'root',
        cmd: ['sh', '-ec', 'mkdir /data; for i in $(seq 1 300); do head -c 1048576 /dev/urandom > /data/f$i; done; sync; echo ok'],
        timeoutMs: 300_000,
      })
      expect(fill).toMatchObject({ exitCode: 0, stdout: 'ok\n' })

      const pending = api.createSnapshot({ id: sbx.id }).catch(() => 'lost with the server')
      await until(() => existsSync(snapsDir) && readdirSync(snapsDir).some((n) => n.startsWith('snap_') && !n.endsWith('.rec')), 'the capture has begun')
      server.child.kill('SIGKILL')
      await exited(server.child)
      const outcome = await pending
      // A cp the server started goes on without it: let it finish before the restart sweeps its target.
      await until(() => copying().length === 0, 'the orphaned cp has exited')

      server = await start()
      api = createClient({ baseUrl: server.url, token })
      const snaps = (await api.listSnapshots({})).items
      if (outcome === 'lost with the server') expect(snaps.length).toBeLessThanOrEqual(1)
      for (const s of snaps) {
        // Complete: a sandbox started from it has every file.
        const fork = await api.createSandbox({ fromSnapshot: s.id })
        expect((await api.exec({ id: fork.id, cmd: ['sh', '-c', 'ls /data | wc -l'] })).stdout).toBe('300\n')
        await api.deleteSandbox({ id: fork.id })
        await api.deleteSnapshot({ id: s.id })
      }
      // No capture without its record, and the sandbox thawed: running, and it runs commands.
      const left = existsSync(snapsDir) ? readdirSync(snapsDir) : []
      expect(left.filter((n) => !n.endsWith('.rec') && !left.includes(`${n}.rec`))).toEqual([])
      expect((await api.getSandbox({ id: sbx.id })).state).toBe('running')
      expect((await api.exec({ id: sbx.id, cmd: ['sh', '-c', 'echo alive'], timeoutMs: 10_000 })).stdout).toBe('alive\n')
      await api.deleteSandbox({ id: sbx.id })
      expect(leftovers(cg, [sbx.id])).toEqual([])
    } finally {
      server.child.kill('SIGTERM')
      await exited(server.child)
      await destroyAll(join(home, 'runtime'), cg)
      // The copy pool's bind mount, when a failure left it.
      for (const mp of readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? ''))
        if (mp.startsWith(home)) spawnSync('umount', ['-l', mp])
      rmSync(home, { recursive: true, force: true })
    }
  })
})
