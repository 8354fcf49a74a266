/**
 * The sandbox supervisor and its exec handlers under faults, for real (namespaces, cgroups, a real HTTP
 * server): slow clients that disconnect, the pids limit under concurrency, a supervisor or init that
 * dies, exec cgroups under load, and commands across a kill -9 of the server. Each test also checks
 * that nothing is left behind.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiError, createClient } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

/** Polls `check` until it returns true (bounded): the machine is shared, so no wall-clock assertions. */
async function until(check: () => boolean | Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  for (let waited = 0; waited < ms; waited += 50) {
    if (await check()) return
    await sleep(50)
  }
  throw new Error(`timed out waiting until ${what}`)
}

/** Command lines of host processes containing `marker` (the host sees every sandbox's processes). */
function hostProcs(marker: string): string[] {
  return spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.includes(marker) && !l.includes('ps -eo'))
}

/** The exec cgroups (x1, x2, …) left under a sandbox's cgroup, in any hierarchy. */
function execCgroups(cgroupName: string, id: string): string[] {
  const found: string[] = []
  for (const root of ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => `/sys/fs/cgroup/${d}`)]) {
    const dir = join(root, cgroupName, id)
    if (!existsSync(dir)) continue
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory() && /^x[0-9]+$/.test(e.name)) found.push(join(dir, e.name))
  }
  return found
}

const ppidOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1])

describe.skipIf(skipReason)('supervisor and exec handlers (real runtime, in-process server)', () => {
  const cgroupName = `tidepool-it-sup-${process.pid}`
  let home: string
  let cp: ControlPlane
  let url: string
  let token: string
  let api: ReturnType<typeof createClient>

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-sup-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 0.5, memoryMb: 128, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    url = (await cp.listen()).url
    token = cp.adminToken!
    api = createClient({ baseUrl: url, token })
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  const initOf = async (id: string, project: string) => (JSON.parse((await cp.svc.sandboxes.row({ project }, id)).runtime_ref!) as { pid: number }).pid

  it('a streaming client that stops reading and then disconnects ends the command and frees its handler', async () => {
    const sbx = await api.createSandbox({})
    const idle = (await api.getSandboxMetrics({ id: sbx.id })).pids
    const marker = `tidepool-slow-reader-${process.pid}`
    const req = request(`${url}/v1/sandboxes/${sbx.id}/exec`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/x-ndjson' },
    })
    req.end(JSON.stringify({ cmd: ['yes', marker], timeoutMs: 600_000 }))
    const res = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject))
    expect(res.statusCode).toBe(200)
    res.pause() // reads nothing more: every buffer up to the handler fills, and the command blocks
    await until(() => hostProcs(marker).length > 0, 'the command runs')
    await sleep(1500) // let every buffer on the way fill up
    expect(hostProcs(marker).length).toBeGreaterThan(0)
    req.destroy()
    res.destroy()
    // The command and its handler are gone: the sandbox holds as many pids as when it was idle.
    await until(() => hostProcs(marker).length === 0, 'the command is killed')
    await until(async () => (await api.getSandboxMetrics({ id: sbx.id })).pids === idle, `the handler exits (pids back to ${idle})`)
    expect(execCgroups(cgroupName, sbx.id)).toEqual([])
    expect((await api.exec({ id: sbx.id, cmd: ['echo', 'still fine'] })).stdout).toBe('still fine\n')
    await api.deleteSandbox({ id: sbx.id })
    expect(leftovers(cgroupName, [sbx.id])).toEqual([])
  })

  it('a sandbox at its pids limit refuses 30 concurrent commands with 409 conflict, never a 500, and takes one again once processes end', async () => {
    const sbx = await api.createSandbox({ resources: { pids: 24 } })
    // Forks until the kernel refuses, then holds every pid.
    const fill =
      'import os, time\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n    if pid == 0:\n        time.sleep(1000)\n        os._exit(0)\nprint("full", flush=True)\ntime.sleep(1000)\n'
    const filler = (await api.exec({ id: sbx.id, cmd: ['python3', '-c', fill], background: true, timeoutMs: 120_000 })) as { pid: number }
    await until(async () => (await api.getSandboxMetrics({ id: sbx.id })).pids === 24, 'the sandbox is full')
    const tries = await Promise.all(
      Array.from({ length: 30 }, () =>
        api.exec({ id: sbx.id, cmd: ['true'] }).then(
          () => 'ran',
          (e: unknown) => (e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : String(e)),
        ),
      ),
    )
    for (const t of tries) expect(t).toMatch(/^409 conflict: .*pids limit is reached/)
    await api.killCommand({ id: sbx.id, pid: filler.pid })
    await until(async () => (await api.getSandboxMetrics({ id: sbx.id })).pids < 10, 'the filler is gone')
    expect((await api.exec({ id: sbx.id, cmd: ['echo', 'again'] })).stdout).toBe('again\n')
    expect(execCgroups(cgroupName, sbx.id)).toEqual([])
    await api.deleteSandbox({ id: sbx.id })
    expect(leftovers(cgroupName, [sbx.id])).toEqual([])
  })

  it('a sandbox whose supervisor or init is killed is marked stopped (lost) at once; calls on it get conflict saying so', async () => {
    for (const victim of ['supervisor', 'init'] as const) {
      const sbx = await api.createSandbox({})
      const init = await initOf(sbx.id, sbx.project)
      const pid = victim === 'init' ? init : ppidOf(init)
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe(victim === 'init' ? 'tidepool-init' : 'tidepool-sup')
      process.kill(pid, 'SIGKILL')
      // Found by its pidfd, without any call on it.
      await until(async () => (await api.getSandbox({ id: sbx.id })).state === 'stopped', `the ${victim}'s death is noticed`)
      expect(await api.getSandbox({ id: sbx.id })).toMatchObject({ state: 'stopped', reason: 'lost' })
      const err = await api.exec({ id: sbx.id, cmd: ['true'] }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(ApiError)
      expect(err).toMatchObject({ status: 409, code: 'conflict', message: expect.stringMatching(new RegExp(`^sandbox ${sbx.id} was lost: its ${victim} \\(pid ${pid}\\) exited; create a new one`)) })
      await expect(api.getSandboxMetrics({ id: sbx.id })).rejects.toMatchObject({ status: 409, code: 'conflict' })
      const events = (await api.listSandboxEvents({ id: sbx.id })).items
      expect(events.at(-1)).toMatchObject({ kind: 'state_changed', data: { to: 'stopped', reason: 'lost', detail: `its ${victim} (pid ${pid}) exited` } })
      // What was left of it (an init without supervisor, cgroups, its directory) is gone too.
      await api.deleteSandbox({ id: sbx.id })
      expect(leftovers(cgroupName, [sbx.id])).toEqual([])
      expect(existsSync(`/proc/${init}`)).toBe(false)
    }
  })

  it('200 concurrent commands leave no exec cgroup behind', async () => {
    const sbx = await api.createSandbox({ resources: { pids: 1024 } })
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => api.exec({ id: sbx.id, cmd: ['echo', String(i)] })))
      expect(results.map((r) => ('stdout' in r ? r.stdout : ''))).toEqual(Array.from({ length: 200 }, (_, i) => `${i}\n`))
      expect(execCgroups(cgroupName, sbx.id)).toEqual([])
    }
    await api.deleteSandbox({ id: sbx.id })
    expect(leftovers(cgroupName, [sbx.id])).toEqual([])
  })
})

describe.skipIf(skipReason)('commands across a kill -9 of the server (real server process)', () => {
  it('timeouts fire while the server is down; a restart lists background commands again and foreground ones are gone', async () => {
    const home = mkdtempSync(join(tmpdir(), 'tidepool-it-cmdcrash-'))
    const cg = `tidepool-it-cmdcrash-${process.pid}`
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', TIDEPOOL_HOME: home, TIDEPOOL_PORT: '0', TIDEPOOL_ROUTER_PORT: '0', TIDEPOOL_CGROUP_NAME: cg, TIDEPOOL_LOG_LEVEL: 'info' }
    const exited = (child: ReturnType<typeof spawn>) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r)))
    const start = async () => {
      const child = spawn(process.execPath, [cliPath, 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      await until(() => /listening on (http:\/\/\S+)/.test(stderr), `the server starts (${stderr})`)
      return { child, url: /listening on (http:\/\/\S+)/.exec(stderr)![1]!, stderr: () => stderr }
    }
    const m = `${process.pid % 1000}`
    const [fg, shortBg, longBg] = [`60${m}1`, `60${m}2`, `60${m}3`].map((s) => `sleep ${s}`) as [string, string, string]
    const argv = (line: string) => line.split(' ')
    let server = await start()
    try {
      const token = readFileSync(join(home, 'admin.token'), 'utf8').trim()
      let api = createClient({ baseUrl: server.url, token })
      const sbx = await api.createSandbox({ timeoutMs: 600_000 })
      const short = (await api.exec({ id: sbx.id, cmd: argv(shortBg), background: true, timeoutMs: 4000 })) as { pid: number }
      const long = (await api.exec({ id: sbx.id, cmd: argv(longBg), background: true, timeoutMs: 600_000 })) as { pid: number }
      const foreground = api.exec({ id: sbx.id, cmd: argv(fg), timeoutMs: 600_000 }).catch(() => 'lost with the server')
      await until(() => hostProcs(fg).length + hostProcs(shortBg).length + hostProcs(longBg).length === 3, 'all three run')

      server.child.kill('SIGKILL')
      await exited(server.child)
      expect(await foreground).toBe('lost with the server')
      // With no server at all: the foreground command lost its caller and is killed; the short
      // background one is killed at its timeout by its handler; the long one keeps running.
      await until(() => hostProcs(fg).length === 0, 'the foreground command is killed')
      await until(() => hostProcs(shortBg).length === 0, 'the background command times out')
      expect(hostProcs(longBg)).toHaveLength(1)

      server = await start()
      api = createClient({ baseUrl: server.url, token })
      const listed = (await api.listCommands({ id: sbx.id })).items
      expect(listed.find((c) => c.pid === long.pid)).toMatchObject({ pid: long.pid, cmd: argv(longBg), state: 'running' })
      const timedOut = await api.waitCommand({ id: sbx.id, pid: short.pid })
      expect(timedOut).toMatchObject({ exitCode: 137, timedOut: true })
      await api.killCommand({ id: sbx.id, pid: long.pid })
      expect((await api.listCommands({ id: sbx.id })).items.find((c) => c.pid === long.pid)).toMatchObject({ state: 'exited', exitCode: 137 })
      expect(hostProcs(longBg)).toEqual([])
      // A new background command does not reuse a pid of the adopted ones.
      const next = (await api.exec({ id: sbx.id, cmd: ['true'], background: true })) as { pid: number }
      expect(next.pid).toBeGreaterThan(long.pid)
      await api.waitCommand({ id: sbx.id, pid: next.pid })
      expect(execCgroups(cg, sbx.id)).toEqual([])
      await api.deleteSandbox({ id: sbx.id })
      expect(leftovers(cg, [sbx.id])).toEqual([])
    } finally {
      server.child.kill('SIGTERM')
      await exited(server.child)
      await destroyAll(join(home, 'runtime'), cg)
      rmSync(home, { recursive: true, force: true })
    }
  })
})
