/** @module sandboxes/template-start — a template's start command, run in the background once a sandbox is up, and its ready check. */
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError } from '../core/errors.js'
import type { ExecHandle, Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { ResolvedTemplate } from './template-seam.js'

const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

/** The base environment of every command in a sandbox (its own envs and the exec's go on top). */
export function execEnv(sandboxId: string, user: 'user' | 'root'): Record<string, string> {
  return {
    PATH: defaultPath,
    HOME: user === 'root' ? '/root' : '/home/user',
    USER: user === 'root' ? 'root' : 'user',
    LANG: 'C.UTF-8',
    TERM: 'xterm',
    TIDEPOOL_SANDBOX_ID: sandboxId,
  }
}

/** The template a sandbox row (or a snapshot row) recorded. */
export function parseTemplateRef(text: string): ResolvedTemplate {
  return JSON.parse(text) as ResolvedTemplate
}

/**
 * Starts `start.cmd` detached (it outlives this call, like a background exec) and, when the template has a
 * ready check, runs it every intervalMs until it exits 0; past timeoutMs the create fails (and is undone).
 */
export async function startTemplateCommand(runtime: Runtime, ref: RuntimeRef, t: ResolvedTemplate, env: Record<string, string>): Promise<void> {
  if (!t.start) return
  const user = t.user ?? 'user'
  const cwd = t.workdir ?? env.HOME ?? '/'
  const started = runtime.exec(ref, { cmd: t.start.cmd, cwd, env, user, timeoutMs: 86_400_000, detached: true, tag: JSON.stringify({ templateStart: t.ref.name }) })
  closeInput(started)
  const ready = t.start.ready
  if (!ready) return
  const deadline = performance.now() + ready.timeoutMs
  // Bounded: at most timeoutMs / intervalMs checks (and at least one).
  for (let attempt = 0; ; attempt++) {
    const check = runtime.exec(ref, { cmd: ready.cmd, cwd, env, user, timeoutMs: Math.max(1, Math.ceil(deadline - performance.now())) })
    closeInput(check)
    const exit = await check.wait()
    if (exit.exitCode === 0) return
    if (performance.now() + ready.intervalMs > deadline) {
      throw new AppError('invalid_request', `template ${t.ref.name}: its ready check (${ready.cmd.join(' ')}) did not exit 0 within ${ready.timeoutMs} ms (${attempt + 1} checks, last exit ${exit.exitCode}); fix the template's start or ready command`, [
        { path: 'template', message: 'ready check failed' },
      ])
    }
    await sleep(ready.intervalMs)
  }
}

function closeInput(h: ExecHandle): void {
  h.stdin.on('error', () => {})
  h.stdin.end()
  // Nobody reads this output: drain it so the command never blocks on a full pipe.
  h.stdout.resume()
  h.stderr.resume()
}
