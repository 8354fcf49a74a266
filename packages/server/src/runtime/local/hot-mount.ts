/** @module runtime/local/hot-mount — bindMount/unbindMount of LocalRuntime: host directories mounted into one running sandbox. */
import { spawn } from 'node:child_process'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { emptyEnv } from '../../core/child-env.js'
import type { RuntimeRef } from '../runtime.js'
import { MOUNT_FAILED, mountArgv, umountArgv } from './helper-args.js'
import { RuntimeError, parseHelperReport } from './runtime-error.js'

const HELPER_TIMEOUT_MS = 30_000

/** What is bound where in one sandbox: target → source. Kept next to the sandbox's layers on the host. */
export type BindRecord = Record<string, { source: string; readOnly: boolean }>

export interface HotMountDeps {
  helperPath: string
  /** The sandbox's host directory (<dataDir>/sandboxes/<id>); the record lives there and goes with it. */
  sandboxDir: string
}

/**
 * Mounts `source` at `target` in the sandbox. The record is written before the mount (so it always
 * covers every mount there is) and unbind only ever detaches recorded targets: a denyRead mask or any
 * other mount the sandbox was created with can never be taken away through unbindMount.
 * A different source already bound at `target` is detached first (replace, not stack).
 */
export async function hotBind(deps: HotMountDeps, ref: RuntimeRef, m: { source: string; target: string; readOnly: boolean }): Promise<void> {
  const record = readRecord(deps.sandboxDir)
  const prev = record[m.target]
  if (prev && prev.source !== m.source) {
    await runHelper(deps.helperPath, ref, umountArgv({ pid: ref.pid, startTime: ref.startTime, target: m.target }), `unbind ${m.target}`)
    delete record[m.target]
    writeRecord(deps.sandboxDir, record)
  }
  writeRecord(deps.sandboxDir, { ...record, [m.target]: { source: m.source, readOnly: m.readOnly } })
  try {
    await runHelper(deps.helperPath, ref, mountArgv({ pid: ref.pid, startTime: ref.startTime, ...m }), `bind ${m.source} at ${m.target}`)
  } catch (err) {
    // The helper mounts all or nothing: on failure nothing new is there (a same-pair mount stays).
    if (!prev || prev.source !== m.source) writeRecord(deps.sandboxDir, record)
    throw err
  }
}

/** Detaches what bindMount put at `target`; nothing recorded there → nothing to do. */
export async function hotUnbind(deps: HotMountDeps, ref: RuntimeRef, target: string): Promise<void> {
  const record = readRecord(deps.sandboxDir)
  if (!record[target]) return
  await runHelper(deps.helperPath, ref, umountArgv({ pid: ref.pid, startTime: ref.startTime, target }), `unbind ${target}`)
  delete record[target]
  writeRecord(deps.sandboxDir, record)
}

function recordFile(dir: string): string {
  return join(dir, 'binds.json')
}

export function readRecord(dir: string): BindRecord {
  let text: string
  try {
    text = readFileSync(recordFile(dir), 'utf8')
  } catch {
    return {}
  }
  try {
    const parsed = JSON.parse(text) as unknown
    return parsed && typeof parsed === 'object' ? (parsed as BindRecord) : {}
  } catch {
    throw new RuntimeError('internal', `${recordFile(dir)} is not valid JSON; fix or remove it (it lists the sandbox's bind mounts)`)
  }
}

function writeRecord(dir: string, record: BindRecord): void {
  const file = recordFile(dir)
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 })
  renameSync(tmp, file)
}

/** Runs `helper mount|umount`; its "<code>: <message>" on failure becomes a RuntimeError. */
function runHelper(helperPath: string, ref: RuntimeRef, argv: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: emptyEnv() })
    let err = ''
    child.stderr.on('data', (c: Buffer) => {
      if (err.length < 4096) err += c.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), HELPER_TIMEOUT_MS)
    child.once('error', (e) => {
      clearTimeout(timer)
      reject(new RuntimeError('runtime_unavailable', `could not run ${helperPath}: ${e.message}; run \`npm run build\` to compile it`, { cause: e }))
    })
    child.once('close', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resolve()
      const report = err.trim()
      const r = parseHelperReport(report)
      if (code === MOUNT_FAILED && r.coded) {
        const msg = r.code === 'not_found' ? `sandbox ${ref.id} is not running: ${r.message}` : `${what} in sandbox ${ref.id}: ${r.message}`
        return reject(new RuntimeError(r.code, msg))
      }
      if (signal === 'SIGKILL') return reject(new RuntimeError('internal', `${what} in sandbox ${ref.id}: tidepool-helper did not finish in ${HELPER_TIMEOUT_MS / 1000} s`))
      reject(
        new RuntimeError(
          'internal',
          `${what} in sandbox ${ref.id}: ${report || `tidepool-helper exited with ${signal ?? code}`}${code === 2 ? ' (the helper is older than this runtime? run `npm run build`)' : ''}`,
        ),
      )
    })
  })
}
