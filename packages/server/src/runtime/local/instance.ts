/** @module runtime/local/instance — the id that marks everything one tidepool home makes on the host. */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RuntimeError, messageOf } from './runtime-error.js'

/** 10 lowercase hex digits: short enough for an XFS label (`tp` + id = 12 bytes), long enough not to collide. */
export const INSTANCE_RE = /^[0-9a-f]{10}$/

/**
 * The instance id of the runtime whose state lives in `dataDir`, made once (random) and kept in
 * `<dataDir>/instance`. Every cgroup (`<cgroupName>/<instance>/…`), mount and loop image of this
 * runtime carries it, and the runtime lists and removes only what carries its own: a second tidepool
 * on the same host (another home) never sees, adopts or destroys the first one's sandboxes.
 */
export function instanceIdOf(dataDir: string): string {
  const file = join(dataDir, 'instance')
  const existing = readId(file)
  if (existing !== undefined) return existing
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    // wx: when two processes race on a fresh home, one id wins and both read it back.
    writeFileSync(file, `${randomBytes(5).toString('hex')}\n`, { flag: 'wx', mode: 0o600 })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new RuntimeError('runtime_unavailable', `could not record the runtime's instance id in ${file}: ${messageOf(err)}; make ${dataDir} writable`, { cause: err })
    }
  }
  const id = readId(file)
  if (id === undefined) throw new RuntimeError('internal', `${file} does not hold an instance id (10 hex digits); remove it only when no sandbox of this home runs, and start again`)
  return id
}

function readId(file: string): string | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
  if (!INSTANCE_RE.test(text))
    throw new RuntimeError('internal', `${file} holds ${JSON.stringify(text.slice(0, 40))}, not an instance id (10 hex digits); restore it, or remove it when no sandbox of this home runs`)
  return text
}
