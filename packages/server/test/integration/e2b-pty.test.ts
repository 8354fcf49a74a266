/**
 * PTY sessions, signals and client-streaming stdin through the unmodified `e2b` npm SDK (and, for what
 * the SDK does not call — StreamInput, SIGTERM — a Connect client of the same protocol) against a real
 * tidepool: a real pseudo-terminal of the sandbox's own devpts, an interactive bash on it, resize
 * seen by `stty size`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { create } from '@bufbuild/protobuf'
import { createClient } from '@connectrpc/connect'
import { createConnectTransport } from '@connectrpc/connect-node'
import { CommandExitError, Sandbox } from 'e2b'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { e2bEnv } from '../../src/cli/commands/e2b.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { Process, Signal, StreamInputRequestSchema } from '../../src/e2b/gen/process_pb.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-e2bpty-${process.pid}`
const vars = ['E2B_API_KEY', 'E2B_API_URL', 'E2B_SANDBOX_URL'] as const
let home: string
let cp: ControlPlane
let baseUrl: string
const saved: Record<string, string | undefined> = {}

/** Collects a terminal's output; `until` resolves once it matches (the test's own timeout bounds the wait). */
function terminal() {
  let text = ''
  const waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = []
  const decoder = new TextDecoder()
  return {
    onData(d: Uint8Array) {
      text += decoder.decode(d, { stream: true })
      for (const w of [...waiters]) {
        const m = text.slice(w.from).match(w.re)
        if (m) (waiters.splice(waiters.indexOf(w), 1), w.resolve(m))
      }
    },
    /** The next match of re in what arrives after this call (or what arrived since `mark`). */
    until(re: RegExp, from = text.length): Promise<RegExpMatchArray> {
      const m = text.slice(from).match(re)
      if (m) return Promise.resolve(m)
      return new Promise((resolve) => waiters.push({ re, from, resolve }))
    },
    get mark() {
      return text.length
    },
    get text() {
      return text
    },
  }
}

/** A Connect client of envd's process service for one sandbox, as the SDK talks to it. */
function processClient(sbx: Sandbox) {
  const token = (sbx as unknown as { envdAccessToken: string }).envdAccessToken
  const transport = createConnectTransport({
    baseUrl,
    httpVersion: '1.1',
    interceptors: [
      (next) => (req) => {
        req.header.set('E2b-Sandbox-Id', sbx.sandboxId)
        req.header.set('X-Access-Token', token)
        return next(req)
      },
    ],
  })
  return createClient(Process, transport)
}

describe.skipIf(skipReason)('e2b PTY, signals and StreamInput against tidepool (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-e2bpty-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } },
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

  it('sandbox.pty: an interactive login bash on a real terminal, resized, typed into and exited', async () => {
    const sbx = await Sandbox.create()
    try {
      const term = terminal()
      const h = await sbx.pty.create({ cols: 80, rows: 24, onData: term.onData, timeoutMs: 120_000 })
      const enc = new TextEncoder()
      let mark = term.mark
      await sbx.pty.sendInput(h.pid, enc.encode('tty; stty size; [ -t 0 ] && [ -t 1 ] && echo "term=$TERM interactive=${-//[^i]/}"\n'))
      expect((await term.until(/\/dev\/pts\/(\d+)/, mark))[0]).toMatch(/^\/dev\/pts\/\d+$/)
      await term.until(/\b24 80\r?\n/, mark)
      expect((await term.until(/term=([\w-]+) interactive=(\w*)\r?\n/, mark)).slice(1)).toEqual(['xterm-256color', 'i'])
      // Who owns the terminal: the session's user, group tty, as login gives it.
      mark = term.mark
      await sbx.pty.sendInput(h.pid, enc.encode('stat -c "owner=%U:%G" "$(tty)"\n'))
      expect((await term.until(/owner=(\w+:\w+)/, mark))[1]).toBe('user:tty')

      await sbx.pty.resize(h.pid, { cols: 132, rows: 43 })
      mark = term.mark
      await sbx.pty.sendInput(h.pid, enc.encode('stty size\n'))
      await term.until(/\b43 132\r?\n/, mark)
      // Ctrl-C reaches the foreground job through the terminal's line discipline, not through a kill.
      mark = term.mark
      await sbx.pty.sendInput(h.pid, enc.encode('sleep 300\n'))
      await new Promise((r) => setTimeout(r, 300))
      await sbx.pty.sendInput(h.pid, enc.encode('\x03'))
      await term.until(/\^C/, mark)
      await sbx.pty.sendInput(h.pid, enc.encode('echo "after=$?"\n'))
      expect((await term.until(/after=(\d+)/, mark))[1]).toBe('130')

      await sbx.pty.sendInput(h.pid, enc.encode('exit 5\n'))
      await expect(h.wait()).rejects.toSatisfy((e) => e instanceof CommandExitError && e.exitCode === 5)
      expect((await sbx.commands.list()).map((p) => p.pid)).not.toContain(h.pid)
    } finally {
      await sbx.kill()
    }
  })

  it('sandbox.pty: reconnects to a running terminal, and kill ends it with everything it started', async () => {
    const sbx = await Sandbox.create()
    try {
      const term = terminal()
      const h = await sbx.pty.create({ cols: 40, rows: 10, onData: term.onData, timeoutMs: 120_000 })
      await sbx.pty.sendInput(h.pid, new TextEncoder().encode('sleep 600 & echo bg=$!\n'))
      await term.until(/bg=\d+/, 0)
      await h.disconnect()
      const again = terminal()
      const h2 = await sbx.pty.connect(h.pid, { onData: again.onData })
      await sbx.pty.sendInput(h.pid, new TextEncoder().encode('echo back-$((40+2))\n'))
      await again.until(/back-42/)
      expect(await sbx.pty.kill(h.pid)).toBe(true)
      await expect(h2.wait()).rejects.toBeInstanceOf(CommandExitError)
      const ps = await sbx.commands.run('ps -eo args')
      expect(ps.stdout).not.toContain('sleep 600')
      expect(await sbx.pty.kill(h.pid)).toBe(false)
    } finally {
      await sbx.kill()
    }
    // Nothing of the sandbox, its terminal or what ran on it is left on the host.
    expect(leftovers(cgroupName, [sbx.sandboxId])).toEqual([])
  })

  it('refuses a pty without a size, and a resize of a command that has no pty', async () => {
    const sbx = await Sandbox.create()
    try {
      const rpc = processClient(sbx)
      const start = rpc.start({ process: { cmd: '/bin/bash', args: [] }, pty: {} })
      await expect(
        (async () => {
          for await (const _ of start) void _
        })(),
      ).rejects.toThrow(/cols and rows/)
      const cat = await sbx.commands.run('cat', { background: true, stdin: true })
      await expect(sbx.pty.resize(cat.pid, { cols: 10, rows: 10 })).rejects.toThrow(/does not run on a pty/)
      await sbx.commands.kill(cat.pid)
    } finally {
      await sbx.kill()
    }
  })

  it('StreamInput feeds stdin from a client stream; SIGTERM reaches the command, which may trap it', async () => {
    const sbx = await Sandbox.create()
    try {
      const rpc = processClient(sbx)
      const cat = await sbx.commands.run('cat', { background: true, stdin: true })
      async function* input() {
        yield create(StreamInputRequestSchema, { event: { case: 'start', value: { process: { selector: { case: 'pid', value: cat.pid } } } } })
        for (const part of ['one ', 'two ', 'three\n'])
          yield create(StreamInputRequestSchema, { event: { case: 'data', value: { input: { input: { case: 'stdin', value: new TextEncoder().encode(part) } } } } })
        yield create(StreamInputRequestSchema, { event: { case: 'keepalive', value: {} } })
      }
      await rpc.streamInput(input())
      await sbx.commands.closeStdin(cat.pid)
      expect((await cat.wait()).stdout).toBe('one two three\n')

      // A stream that does not name its process first is refused.
      async function* nameless() {
        yield create(StreamInputRequestSchema, { event: { case: 'data', value: { input: { input: { case: 'stdin', value: new Uint8Array([0x61]) } } } } })
      }
      await expect(rpc.streamInput(nameless())).rejects.toThrow(/start event/)

      const trap = await sbx.commands.run(`trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done`, { background: true })
      for (let i = 0; i < 200 && !trap.stdout.includes('ready'); i++) await new Promise((r) => setTimeout(r, 50))
      await rpc.sendSignal({ process: { selector: { case: 'pid', value: trap.pid } }, signal: Signal.SIGTERM })
      const ended = await trap.wait().catch((e: unknown) => e)
      expect(ended).toBeInstanceOf(CommandExitError)
      expect((ended as CommandExitError).exitCode).toBe(7)
      expect((ended as CommandExitError).stdout).toContain('got-term')
    } finally {
      await sbx.kill()
    }
  })
})
