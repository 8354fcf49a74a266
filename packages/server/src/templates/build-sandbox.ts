/**
 * @module templates/build-sandbox — applies one layer-making step in a throwaway sandbox and captures it.
 *
 * The sandbox's writable layer starts as the previous step's snapshot (so it holds every change so
 * far; see kit/template-seam.ts for why steps are not stacked as overlay lowers); the step writes into it; runtime.snapshots.create captures it as the step's layer; the sandbox is destroyed whatever
 * happened. A run step of a template with a network policy runs with egress through the proxy under
 * that policy (the template level, combined with the project's), the proxy variables in its env; every
 * other step has loopback only, offline.
 */
import { StringDecoder } from 'node:string_decoder'
import { AppError, codeOf } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { NetworkSeam } from '../kit/network-seam.js'
import { installTrust, removeTrust, trustEnv } from '../kit/egress-trust.js'
import type { ResourceLimits, Runtime, RuntimeSnapshots, SnapshotRef } from '../runtime/runtime.js'
import { BUILD_PATH, BUILD_SANDBOX_PREFIX, type CopyAction, type RunAction } from './plan.js'

/** Longest log line kept; a longer one is cut (its bytes still count in the output). */
export const MAX_LINE_CHARS = 4096
/** Lines of output shown in a failing step's error. */
const errorTailLines = 20

/** Writes stdin to `$1` as root, parents made, then sets its mode: no shell ever sees the content. */
const copyScript = 'umask 022 && mkdir -p -- "${1%/*}/" && cat > "$1" && chmod "$2" -- "$1"'

export interface StepContext {
  runtime: Runtime
  snapshots: RuntimeSnapshots
  resources: ResourceLimits
  templateName: string
  rootfs: string
  /** The previous step's snapshot (it holds every change so far); absent for the first step. */
  from?: string | undefined
  /** Output lines as they come. */
  onLine: (line: string) => void
  signal?: AbortSignal | undefined
  /** The egress proxy and the building project: run steps with a network policy go through it. */
  egress?: { network: NetworkSeam; project: string } | undefined
}

/** Runs `action` in a sandbox started from the previous step's snapshot and captures the result as snapshot `snapshotId`. */
export async function buildLayer(ctx: StepContext, stepIndex: number, action: CopyAction | RunAction, snapshotId: string): Promise<SnapshotRef> {
  const id = newId(BUILD_SANDBOX_PREFIX.slice(0, -1), 20)
  const online = action.kind === 'run' && action.network !== undefined && ctx.egress !== undefined && ctx.runtime.network !== undefined
  const ref = await ctx.runtime.start({
    id,
    template: { name: ctx.templateName, rootfs: ctx.rootfs },
    ...(ctx.from ? { fromSnapshot: ctx.from } : {}),
    resources: ctx.resources,
    denyRead: [],
    ...(online ? { network: { egress: true } } : {}),
  })
  let proxyEnv: Record<string, string> = {}
  let trusted = false
  try {
    if (online && action.kind === 'run') {
      // The template level only: a build sandbox has no level of its own; the project's comes from config.
      const net = ctx.egress!.network
      await net.attach({ id, projectId: ctx.egress!.project, template: ctx.templateName, templatePolicy: action.network }, ctx.runtime.networkOf?.(ref)?.sandboxIp)
      proxyEnv = net.proxyEnv()
      const caPem = net.caCertificatePem()
      if (caPem) {
        await installTrust(ctx.runtime, ref, caPem)
        trusted = true
        proxyEnv = { ...proxyEnv, ...trustEnv() }
      }
    }
    const tail: string[] = []
    const onLine = (line: string) => {
      tail.push(line)
      if (tail.length > errorTailLines) tail.shift()
      ctx.onLine(line)
    }
    // A command that cannot start (a missing workdir, a sandbox gone) fails the build naming the step too.
    const cannotStart = (err: unknown) =>
      new AppError(
        codeOf(err) === 'internal' ? 'internal' : codeOf(err),
        `template ${ctx.templateName}: step ${stepIndex + 1} (${action.kind}) could not start: ${(err as Error).message}`,
        [{ path: `steps.${stepIndex}`, message: 'could not start' }],
        { cause: err },
      )
    let handle
    try {
      handle =
        action.kind === 'copy'
          ? ctx.runtime.exec(ref, {
              cmd: ['/bin/sh', '-c', copyScript, 'sh', action.path, action.mode.toString(8)],
              env: { PATH: BUILD_PATH, HOME: '/root', LANG: 'C.UTF-8' },
              user: 'root',
              timeoutMs: 120_000,
            })
          : ctx.runtime.exec(ref, { cmd: action.cmd, cwd: action.cwd, env: { ...proxyEnv, ...action.env }, user: action.user, timeoutMs: action.timeoutMs })
    } catch (err) {
      throw cannotStart(err)
    }
    const h = handle
    const onAbort = () => void h.kill()
    ctx.signal?.addEventListener('abort', onAbort, { once: true })
    let exit
    try {
      if (action.kind === 'copy') h.stdin.end(action.bytes)
      else h.stdin.end()
      const waited = h.wait().catch((err: unknown) => {
        throw cannotStart(err)
      })
      const [, , e] = await Promise.all([readLines(h.stdout, onLine), readLines(h.stderr, onLine), waited])
      exit = e
    } finally {
      ctx.signal?.removeEventListener('abort', onAbort)
    }
    if (ctx.signal?.aborted) throw new AppError('conflict', `the build of ${ctx.templateName} was cancelled at step ${stepIndex + 1}`)
    if (exit.exitCode !== 0) {
      const why = exit.timedOut
        ? `timed out after ${action.kind === 'run' ? action.timeoutMs : 120_000} ms`
        : exit.oomKilled
          ? `was killed for exceeding memory (exit ${exit.exitCode})`
          : `exited with ${exit.exitCode}`
      const shown = tail.length > 0 ? `; output tail:\n${tail.join('\n')}` : ' (no output)'
      throw new AppError('invalid_request', `template ${ctx.templateName}: step ${stepIndex + 1} (${action.kind}) ${why}${shown}`, [{ path: `steps.${stepIndex}`, message: why }])
    }
    // The CA bundle belongs to this build sandbox, not to the layer.
    if (trusted) await removeTrust(ctx.runtime, ref)
    // A capture a crash left under this id (never recorded as a layer) is stale: replace it.
    if (await ctx.snapshots.get(snapshotId)) await ctx.snapshots.delete(snapshotId)
    return await ctx.snapshots.create(ref, snapshotId)
  } finally {
    if (online) await ctx.egress!.network.detach(id)
    await ctx.runtime.destroy(id, ref)
  }
}

/** Splits a byte stream into lines (UTF-8 kept whole across chunks), each cut at MAX_LINE_CHARS. */
async function readLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): Promise<void> {
  const decoder = new StringDecoder('utf8')
  let partial = ''
  const flush = (text: string) => {
    const parts = (partial + text).split('\n')
    partial = parts.pop() ?? ''
    // An endless line must not grow without bound: emit it in pieces.
    while (partial.length > MAX_LINE_CHARS) {
      onLine(partial.slice(0, MAX_LINE_CHARS))
      partial = partial.slice(MAX_LINE_CHARS)
    }
    for (const p of parts) onLine(p.length > MAX_LINE_CHARS ? `${p.slice(0, MAX_LINE_CHARS)}…` : p)
  }
  for await (const chunk of stream) flush(decoder.write(chunk as Buffer))
  flush(decoder.end())
  if (partial) onLine(partial)
}
