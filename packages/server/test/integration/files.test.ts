/**
 * Files for real (LocalRuntime, HTTP on loopback): reads and writes stream with bounded memory, a token's
 * concurrent transfers are bounded, writes are atomic, and bad input is a coded 4xx at once.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, Sandbox } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { cliPath, destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-files-${process.pid}`
const MiB = 1024 * 1024
const transferLimit = 4
let home: string
let cp: ControlPlane
let url: string
let token: string

describe.skipIf(skipReason)('files (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-files-'))
    const config = loadConfig({
      env: {},
      overrides: {
        home,
        port: 0,
        logLevel: 'silent',
        runtime: { kind: 'local', cgroupName },
        defaults: { cpu: 1, memoryMb: 256, pids: 128 },
        files: { maxConcurrentTransfers: transferLimit },
      },
    })
    cp = await buildControlPlane(config, { logger: process.env.H6_DEBUG ? (await import('../../src/core/log.js')).createLogger('error') : silentLogger, reaper: false })
    url = (await cp.listen()).url
    token = cp.adminToken!
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  const conn = () => ({ baseUrl: url, token })
  const fileUrl = (id: string, path: string) => `${url}/v1/sandboxes/${id}/files?path=${encodeURIComponent(path)}`
  const put = (id: string, path: string, body: ReadableStream<Uint8Array>, signal?: AbortSignal, auth = token) =>
    fetch(fileUrl(id, path), { method: 'PUT', headers: { authorization: `Bearer ${auth}`, 'content-type': 'application/octet-stream' }, body, signal, duplex: 'half' } as RequestInit)
  const get = (id: string, path: string, auth = token) => fetch(fileUrl(id, path), { headers: { authorization: `Bearer ${auth}` } })
  const temps = async (sbx: Sandbox, dir: string) => (await sbx.commands.run(`ls -A ${dir}`)).stdout.split('\n').filter((n) => n.startsWith('.tidepool-upload-'))

  it('keeps the server RSS bounded while 4 × 200 MB are written and then read at once', async () => {
    // The server in its own process, so its peak RSS (VmHWM) is the server's alone, not the client's too.
    const home2 = mkdtempSync(join(tmpdir(), 'tidepool-it-files-rss-'))
    const cg = `tidepool-it-files-rss-${process.pid}`
    const port = 20000 + ((process.pid + 7919) % 20000)
    const env = { PATH: '/usr/local/bin:/usr/bin:/bin', TIDEPOOL_HOME: home2, TIDEPOOL_PORT: String(port), TIDEPOOL_ROUTER_PORT: '0', TIDEPOOL_CGROUP_NAME: cg, TIDEPOOL_LOG_LEVEL: 'warn' }
    const server = spawn(process.execPath, [cliPath, 'up'], { env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    server.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    try {
      for (let i = 0; i < 1200 && !stderr.includes('listening'); i++) await new Promise((ok) => setTimeout(ok, 50)) // up to a minute on a loaded machine
      expect(stderr).toContain('listening')
      const c = { baseUrl: `http://127.0.0.1:${port}`, token: readFileSync(join(home2, 'admin.token'), 'utf8').trim() }
      const sbx = await Sandbox.create(c)
      const size = 200 * MiB
      const base = procStatus(server.pid!, 'VmRSS')
      const target = (i: number) => `${c.baseUrl}/v1/sandboxes/${sbx.sandboxId}/files?path=/home/user/big${i}`
      const auth = { authorization: `Bearer ${c.token}` }
      const puts = await Promise.all([0, 1, 2, 3].map((i) => fetch(target(i), { method: 'PUT', headers: auth, body: zeros(size), duplex: 'half' } as RequestInit)))
      expect(puts.map((r) => r.status)).toEqual([200, 200, 200, 200])
      const stats = await Promise.all(puts.map((r) => r.json() as Promise<{ entry: { size: number } }>))
      expect(stats.map((s) => s.entry.size)).toEqual([size, size, size, size])
      const afterPuts = procStatus(server.pid!, 'VmHWM')
      const got = await Promise.all([0, 1, 2, 3].map(async (i) => countBytes(await fetch(target(i), { headers: auth }))))
      expect(got).toEqual([size, size, size, size])
      const peak = procStatus(server.pid!, 'VmHWM')
      const mb = (n: number) => Math.round(n / 1024)
      process.stderr.write(`files RSS (server): base ${mb(base)} MiB, peak after 4 x 200 MiB PUT ${mb(afterPuts)} MiB, after 4 x 200 MiB GET ${mb(peak)} MiB\n`)
      // 800 MiB at a time each way; holding the files (as it did) grows by more than that. Streaming holds chunks.
      expect(mb(peak - base)).toBeLessThan(300)
      await sbx.kill()
    } finally {
      server.kill('SIGTERM')
      if (server.exitCode === null && server.signalCode === null) await new Promise((ok) => server.once('exit', ok))
      await destroyAll(join(home2, 'runtime'), cg)
      expect(leftovers(cg)).toEqual([])
      rmSync(home2, { recursive: true, force: true })
    }
  })

  it('bounds concurrent file transfers per token: one over the limit gets 429 quota_exceeded with retryAfter', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('head -c 64M /dev/zero > /home/user/big')
    // Open `transferLimit` reads and take only their first chunk: each holds its transfer (backpressure).
    const open = await Promise.all(Array.from({ length: transferLimit }, () => get(sbx.sandboxId, '/home/user/big')))
    const readers = open.map((r) => r.body!.getReader())
    await Promise.all(readers.map((r) => r.read()))
    const over = await get(sbx.sandboxId, '/home/user/big')
    expect(over.status).toBe(429)
    expect(over.headers.get('retry-after')).toBe('1')
    const body = (await over.json()) as { error: { code: string; message: string; details: Record<string, unknown> } }
    expect(body.error.code).toBe('quota_exceeded')
    expect(body.error.details).toMatchObject({ limit: transferLimit, used: transferLimit, retryAfter: 1 })
    expect(String(body.error.details.scope)).toMatch(/file_transfers/)
    expect(body.error.message).toMatch(/files\.maxConcurrentTransfers/)
    // Per token: another token of the project still reads.
    const admin = createClient(conn())
    const other = await admin.createToken({ project: (await admin.whoami()).project, scopes: ['sandboxes:read'] })
    const res = await get(sbx.sandboxId, '/home/user/f-missing', other.token)
    expect(res.status).toBe(404)
    // Cancelling the readers gives the slots back (the commands are killed).
    await Promise.all(readers.map((r) => r.cancel()))
    let status = 0
    for (let i = 0; i < 100 && status !== 200; i++) {
      const r = await get(sbx.sandboxId, '/home/user/big')
      status = r.status
      await r.body?.cancel()
      if (status !== 200) await new Promise((ok) => setTimeout(ok, 50))
    }
    expect(status).toBe(200)
    const cats = await sbx.commands.run('pgrep -x cat | wc -l')
    expect(cats.stdout.trim()).toBe('0')
    await sbx.kill()
  })

  it('replaces a file atomically: a killed or cut-off upload leaves the old file and no temp file behind', async () => {
    const sbx = await Sandbox.create(conn())
    const old = 'old contents\n'
    await sbx.files.write('/home/user/keep.txt', old)
    // The writing command killed inside the sandbox mid-write.
    const upload = put(sbx.sandboxId, '/home/user/keep.txt', zeros(96 * MiB, 2))
    let settled = false
    void upload.finally(() => (settled = true)).catch(() => {})
    let kills = 0
    for (let i = 0; i < 3000 && !settled; i++) {
      const r = await sbx.commands.run('pkill -KILL -x cat && echo killed || true')
      if (r.stdout.includes('killed')) kills++
    }
    const res = await upload
    expect(kills).toBeGreaterThan(0)
    const text = await res.text()
    expect(res.status, text).toBeGreaterThanOrEqual(400)
    expect(res.status, text).toBeLessThan(500)
    expect(await sbx.files.read('/home/user/keep.txt')).toBe(old)
    expect(await temps(sbx, '/home/user')).toEqual([])

    // The client going away mid-body: wait until the temp file exists (the upload is under way), then abort.
    const ctrl = new AbortController()
    const cut = put(sbx.sandboxId, '/home/user/keep.txt', zeros(8 * MiB, 0, true), ctrl.signal).catch((e: unknown) => e)
    for (let i = 0; i < 200 && (await temps(sbx, '/home/user')).length === 0; i++) await new Promise((ok) => setTimeout(ok, 25))
    expect((await temps(sbx, '/home/user')).length).toBe(1)
    ctrl.abort()
    await cut
    for (let i = 0; i < 200 && (await temps(sbx, '/home/user')).length > 0; i++) await new Promise((ok) => setTimeout(ok, 25))
    expect(await temps(sbx, '/home/user')).toEqual([])
    expect(await sbx.files.read('/home/user/keep.txt')).toBe(old)
    // And a whole upload replaces it, keeping the old file's mode.
    await sbx.commands.run('chmod 0640 /home/user/keep.txt')
    await sbx.files.write('/home/user/keep.txt', 'new\n')
    expect(await sbx.files.read('/home/user/keep.txt')).toBe('new\n')
    expect((await sbx.files.getInfo('/home/user/keep.txt')).mode).toBe('0640')
    await sbx.kill()
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('answers bad paths with a coded 4xx naming the field and what to do', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.files.write('/home/user/f', 'x')
    const long = 'a'.repeat(300)
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['mkdir on a file', () => sbx.files.makeDir('/home/user/f'), 'conflict', /^path: \/home\/user\/f exists and is not a directory/],
      ['PUT under a file', () => sbx.files.write('/home/user/f/sub.txt', 'x'), 'conflict', /^path: \/home\/user\/f is a file/],
      ['mkdir, a name over 255 bytes', () => sbx.files.makeDir(`/home/user/${long}`), 'invalid_request', /^path: .*300 bytes; a name may have at most 255/],
      ['PUT, a name over 255 bytes', () => sbx.files.write(`/home/user/${long}`, 'x'), 'invalid_request', /^path: .*at most 255/],
      ['PUT into /proc', () => sbx.files.write('/proc/self/oom_score_adj', '-1000'), 'invalid_request', /^path: \/proc\/self\/oom_score_adj is under \/proc/],
      [
        'PUT through a symlink into /proc',
        () => sbx.commands.run('ln -sf /proc/self/oom_score_adj /home/user/oom').then(() => sbx.files.write('/home/user/oom', '-1000')),
        'invalid_request',
        /under \/proc/,
      ],
      ['rename under a file', () => sbx.files.rename('/home/user/f', '/home/user/f/g'), 'conflict', /^to: \/home\/user\/f is a file/],
      ['rename of nothing', () => sbx.files.rename('/home/user/nothing', '/home/user/g'), 'not_found', /^from: \/home\/user\/nothing does not exist/],
    ]
    for (const [name, call, code, message] of cases) {
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | undefined
      expect({ name, code: err?.code }).toEqual({ name, code })
      expect(err?.message, name).toMatch(message)
    }
    expect(await sbx.files.read('/home/user/f')).toBe('x')
    await sbx.kill()
  })

  it('names the field that is wrong in a rename: `to` when the target is the problem', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('mkdir -p /home/user/full/inner && echo x > /home/user/src.txt && mkdir /home/user/srcdir')
    const cases: [string, () => Promise<unknown>, string, RegExp][] = [
      ['onto a non-empty directory', () => sbx.files.rename('/home/user/srcdir', '/home/user/full'), 'conflict', /^to: \/home\/user\/full \(from \/home\/user\/srcdir\) exists and cannot be replaced/],
      ['a file onto a directory', () => sbx.files.rename('/home/user/src.txt', '/home/user/full'), 'conflict', /^to: \/home\/user\/full/],
      ['into /proc', () => sbx.files.rename('/home/user/src.txt', '/proc/self/x'), 'invalid_request', /^to: \/proc\/self\/x is under \/proc/],
      ['a name over 255 bytes', () => sbx.files.rename('/home/user/src.txt', `/home/user/${'b'.repeat(256)}`), 'invalid_request', /^to: the name/],
    ]
    for (const [name, call, code, message] of cases) {
      const err = (await call().then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string } | undefined
      expect({ name, code: err?.code }).toEqual({ name, code })
      expect(err?.message, name).toMatch(message)
      expect(err?.message, name).not.toMatch(/^path:/)
    }
    // Nothing moved.
    expect(await sbx.files.read('/home/user/src.txt')).toBe('x\n')
    await sbx.kill()
  })

  it('gives each refused exec cwd the hint that fits it, and file errors none of that hint', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('echo x > /home/user/f && mkdir -p /home/user/locked && chmod 700 /home/user/locked', { user: 'root' })
    const refusal = async (p: Promise<unknown>) =>
      (await p.then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string }
    const missing = await refusal(sbx.commands.run('pwd', { cwd: '/home/user/nope' }))
    expect(missing).toMatchObject({ code: 'invalid_request' })
    expect(missing.message).toMatch(/cwd \/home\/user\/nope does not exist; create it first or pick an existing directory/)
    const file = await refusal(sbx.commands.run('pwd', { cwd: '/home/user/f' }))
    expect(file).toMatchObject({ code: 'invalid_request' })
    expect(file.message).toMatch(/cwd \/home\/user\/f is not a directory/)
    expect(file.message).not.toMatch(/create it first/)
    const locked = await refusal(sbx.commands.run('pwd', { cwd: '/home/user/locked' }))
    expect(locked).toMatchObject({ code: 'invalid_request' })
    expect(locked.message).toMatch(/may not be entered by the command's user/)
    expect(locked.message).not.toMatch(/create it first/)
    // The file API's own refusals carry their own hints.
    const mkdirOnFile = await refusal(sbx.files.makeDir('/home/user/f'))
    expect(mkdirOnFile.message).toMatch(/remove it first or pick another path/)
    expect(mkdirOnFile.message).not.toMatch(/create it first/)
    await sbx.kill()
  })

  it('lists entries it cannot fully read (a dangling symlink, an unreadable file) with what can be known', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('mkdir -p /home/user/e && ln -s /nowhere /home/user/e/dangling && echo s > /home/user/e/secret && chmod 000 /home/user/e/secret')
    const entries = await sbx.files.list('/home/user/e')
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['dangling', 'symlink'],
      ['secret', 'file'],
    ])
    expect(Number.parseInt(entries.find((e) => e.name === 'secret')?.mode ?? '', 8)).toBe(0) // listed with its mode, though unreadable
    await sbx.kill()
  })

  it('refuses to read a FIFO or a device (which would block or never end) with invalid_request', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('mkfifo /home/user/fifo')
    for (const path of ['/home/user/fifo', '/dev/zero']) {
      const err = (await sbx.files.read(path).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: string; message?: string }
      expect(err?.code, path).toBe('invalid_request')
      expect(err?.message).toMatch(/is not a regular file/)
    }
    // Nothing was left reading in the sandbox.
    expect((await sbx.commands.run('pgrep -x cat | wc -l')).stdout.trim()).toBe('0')
    await sbx.kill()
  })

  it('lists a directory with an unreadable entry (the entry is listed, not its contents)', async () => {
    const sbx = await Sandbox.create(conn())
    await sbx.commands.run('mkdir -p /home/user/d/locked/inner && touch /home/user/d/ok && chmod 000 /home/user/d/locked')
    const entries = await sbx.files.list('/home/user/d', { depth: 3 })
    expect(entries.map((e) => e.name)).toEqual(['locked', 'ok'])
    await expect(sbx.files.list('/home/user/d/locked')).rejects.toMatchObject({ code: 'policy_denied' })
    await sbx.kill()
  })
})

/** `size` zero bytes in 1 MiB chunks, made as they are pulled; `delayMs` between chunks; `hang` never ends. */
function zeros(size: number, delayMs = 0, hang = false): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent >= size) {
        if (hang) return new Promise<void>(() => {})
        controller.close()
        return
      }
      if (delayMs) await new Promise((ok) => setTimeout(ok, delayMs))
      const n = Math.min(MiB, size - sent)
      sent += n
      controller.enqueue(new Uint8Array(n))
    },
  })
}

async function countBytes(res: Response): Promise<number> {
  expect(res.status).toBe(200)
  let n = 0
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) n += chunk.byteLength
  return n
}

/** A field of /proc/<pid>/status in KiB (VmRSS now, VmHWM the peak so far). */
function procStatus(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0)
}
