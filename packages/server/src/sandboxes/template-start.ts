/** @module sandboxes/template-start — a template's start command, run in the background once a sandbox is up, and its ready check. */
import { setTimeout as sleep } from 'node:timers/promises'
import { AppError } from '../core/errors.js'
import type { SnapshotService } from './snapshots.js'
import type { ExecHandle, Runtime, RuntimeRef } from '../runtime/runtime.js'
import type { ResolvedTemplate, TemplateResolver } from '../kit/template-seam.js'

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

const templateStartTag = (name: string) => JSON.stringify({ templateStart: name })

/** Whether a detached command's tag marks it as a template's start command (adopt leaves it be). */
export function isTemplateStart(tag: string | undefined): boolean {
  if (!tag?.startsWith('{"templateStart":')) return false
  try {
    return typeof (JSON.parse(tag) as { templateStart?: unknown }).templateStart === 'string'
  } catch {
    return false
  }
}

/** The template a sandbox row (or a snapshot row) recorded. */
export function parseTemplateRef(text: string): ResolvedTemplate {
  return JSON.parse(text) as ResolvedTemplate
}

/**
 * What a create starts from: the template it names, or — with fromSnapshot — the snapshot (a ready one of
 * the project, else not_found) on exactly the template build it was taken on.
 */
export async function resolveStart(
  snapshots: SnapshotService,
  templates: TemplateResolver,
  p: { project: string },
  input: { template: string; fromSnapshot?: string | undefined },
): Promise<{ resolved: ResolvedTemplate; fromSnapshot?: string }> {
  if (input.fromSnapshot === undefined) return { resolved: await templates.resolve(p.project, input.template) }
  snapshots.runtimeSnapshots('sandboxes from snapshots')
  const snap = await snapshots.row(p, input.fromSnapshot)
  // `template` defaults to 'default', so only another explicit name can contradict the snapshot's.
  if (input.template !== 'default' && input.template !== snap.template) {
    throw new AppError(
      'invalid_request',
      `template ${JSON.stringify(input.template)} contradicts fromSnapshot ${snap.id}, taken on template ${snap.template}; leave template out (a sandbox from a snapshot starts on its template)`,
      [{ path: 'template', message: 'contradicts fromSnapshot' }],
    )
  }
  return { resolved: snap.template_ref ? parseTemplateRef(snap.template_ref) : await templates.resolve(p.project, snap.template), fromSnapshot: snap.id }
}

/**
 * Starts `start.cmd` detached (it outlives this call, like a background exec) and, when the template has a
 * ready check, runs it every intervalMs until it exits 0; past timeoutMs the create fails (and is undone).
 */
export async function startTemplateCommand(runtime: Runtime, ref: RuntimeRef, t: ResolvedTemplate, env: Record<string, string>): Promise<void> {
  if (!t.start) return
  const user = t.user ?? 'user'
  const cwd = t.workdir ?? env.HOME ?? '/'
  const started = runtime.exec(ref, { cmd: t.start.cmd, cwd, env, user, timeoutMs: 86_400_000, detached: true, tag: templateStartTag(t.ref.name) })
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
      throw new AppError(
        'invalid_request',
        `template ${t.ref.name}: its ready check (${ready.cmd.join(' ')}) did not exit 0 within ${ready.timeoutMs} ms (${attempt + 1} checks, last exit ${exit.exitCode}); fix the template's start or ready command`,
        [{ path: 'template', message: 'ready check failed' }],
      )
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
