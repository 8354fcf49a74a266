/**
 * The unmodified `e2b` PyPI SDK (pinned below, installed into a venv this test makes) against a real
 * tidepool (LocalRuntime, HTTP on loopback), configured only by E2B_API_KEY, E2B_API_URL and E2B_SANDBOX_URL.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { e2bEnv } from '../../src/cli/commands/e2b.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

const E2B_PY = 'e2b==2.63.0'
/** Kept between runs (node_modules is not committed): made once, reused while it has the pinned version. */
const venv = resolve(import.meta.dirname, '../../../../node_modules/.cache/tidepool-e2b-venv')
const python = join(venv, 'bin', 'python')
const cgroupName = `tidepool-it-e2b-py-${process.pid}`
const hostPython = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p))
let home: string
let cp: ControlPlane
let env: Record<string, string>

const script = String.raw`
import json, sys, urllib.request
from e2b import PtySize, Sandbox, SandboxQuery, NotFoundException, AuthenticationException, CommandExitException, TimeoutException

out = {}
sbx = Sandbox.create(metadata={"suite": "e2b-py"}, envs={"GREETING": "hello"})
try:
    chunks = []
    r = sbx.commands.run('echo "$GREETING from $(whoami)"; echo warn >&2', on_stdout=lambda d: chunks.append(d), on_stderr=lambda d: chunks.append("ERR:" + d))
    out["run"] = [r.exit_code, r.stdout, r.stderr, "".join(chunks)]
    try:
        sbx.commands.run("exit 4")
    except CommandExitException as e:
        out["exit"] = e.exit_code
    h = sbx.commands.run("sleep 600", background=True)
    out["listed"] = h.pid in [p.pid for p in sbx.commands.list()]
    out["killed"] = sbx.commands.kill(h.pid)
    cat = sbx.commands.run("cat", background=True, stdin=True)
    sbx.commands.send_stdin(cat.pid, "from python\n")
    sbx.commands.close_stdin(cat.pid)
    out["stdin"] = cat.wait().stdout
    try:
        sbx.commands.run("sleep 30", timeout=1.5)
    except TimeoutException:
        out["timeout"] = True
    sbx.files.write("/home/user/py/a.txt", "from py")
    out["read"] = sbx.files.read("py/a.txt")
    out["list"] = [e.name for e in sbx.files.list("/home/user/py")]
    w = sbx.files.watch_dir("/home/user/py")
    sbx.files.write("/home/user/py/b.txt", "b")
    out["watch"] = [(e.name, e.type.value) for e in w.get_new_events()]
    w.stop()
    out["exists"] = [sbx.files.exists("/home/user/py/a.txt"), sbx.files.exists("/home/user/none")]
    # A terminal: resized, fed through StreamInput (the Python SDK's pty.stream_input), exited with a code.
    t = sbx.pty.create(PtySize(rows=24, cols=80))
    sbx.pty.resize(t.pid, PtySize(rows=30, cols=100))
    sbx.pty.stream_input(t.pid, [b"stty size; ", b"tty; exit 3\n"])
    pty_out = []
    try:
        t.wait(on_pty=lambda d: pty_out.append(bytes(d)))
    except CommandExitException as e:
        out["pty_exit"] = e.exit_code
    text = b"".join(pty_out).decode()
    out["pty"] = ["30 100" in text, "/dev/pts/" in text]
    # A signed URL, fetched with nothing else.
    sbx.files.write("/home/user/py/s.txt", "signed")
    out["signed"] = urllib.request.urlopen(sbx.download_url("/home/user/py/s.txt", use_signature_expiration=60)).read().decode()
    sbx.set_timeout(3600)
    again = Sandbox.connect(sbx.sandbox_id)
    out["connect"] = again.commands.run("echo again").stdout
    out["metadata"] = sbx.get_info().metadata
    page = Sandbox.list(query=SandboxQuery(metadata={"suite": "e2b-py"}), limit=10).next_items()
    out["listed_sandboxes"] = [s.sandbox_id for s in page] == [sbx.sandbox_id]
finally:
    out["kill"] = sbx.kill()
try:
    Sandbox.get_info(sbx.sandbox_id)
except NotFoundException:
    out["gone"] = True
try:
    Sandbox.list(api_key="e2b_" + "ab" * 20).next_items()
except AuthenticationException:
    out["auth"] = True
print(json.dumps(out))
`

describe.skipIf(skipReason || !hostPython)('e2b Python SDK against tidepool (real runtime)', () => {
  beforeAll(async () => {
    // The venv: made with the host's python, the SDK from PyPI at the pinned version.
    const has =
      existsSync(python) &&
      spawnSync(python, ['-c', 'import importlib.metadata as m; print(m.version("e2b"))'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }).stdout.trim() === E2B_PY.split('==')[1]
    if (!has) {
      mkdirSync(resolve(venv, '..'), { recursive: true })
      rmSync(venv, { recursive: true, force: true })
      execFileSync(hostPython!, ['-m', 'venv', venv], { stdio: 'inherit', env: { PATH: '/usr/bin:/bin' } })
      execFileSync(join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', E2B_PY], { stdio: 'inherit', env: { PATH: '/usr/bin:/bin', HOME: tmpdir() } })
    }
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-e2b-py-'))
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } } })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const { url } = await cp.listen()
    env = { PATH: '/usr/bin:/bin', HOME: home, ...e2bEnv(url, cp.adminToken!) }
  }, 300_000)
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('creates, runs (streamed, background, stdin, timeout, pty), moves files, signs a URL, lists, connects and kills', async () => {
    // Asynchronously: the server answering it runs in this process.
    const r = await new Promise<{ stdout: string; stderr: string }>((ok) =>
      execFile(python, ['-c', script], { encoding: 'utf8', env, timeout: 120_000 }, (_err, stdout, stderr) => ok({ stdout, stderr })),
    )
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout) as Record<string, unknown>
    expect(out).toEqual({
      run: [0, 'hello from user\n', 'warn\n', expect.stringContaining('hello from user\n')],
      exit: 4,
      listed: true,
      killed: true,
      stdin: 'from python\n',
      timeout: true,
      read: 'from py',
      list: ['a.txt'],
      watch: [['b.txt', 'create']],
      exists: [true, false],
      pty_exit: 3,
      pty: [true, true],
      signed: 'signed',
      connect: 'again\n',
      metadata: { suite: 'e2b-py' },
      listed_sandboxes: true,
      kill: true,
      gone: true,
      auth: true,
    })
  }, 180_000)
})
