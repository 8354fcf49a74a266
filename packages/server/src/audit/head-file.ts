/** @module audit/head-file — the latest signed checkpoint, kept outside the store so deleting the newest records shows. */
import { open, rename } from 'node:fs/promises'
import { mkdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Checkpoint } from './checkpoint.js'

/** absent: no file; reset: an empty file (an operator accepted a lost or rejected head); unreadable: not a checkpoint. */
export type HeadState = { state: 'absent' } | { state: 'reset' } | { state: 'unreadable'; reason: string } | { state: 'ok'; head: Checkpoint }

export function readHead(file: string): HeadState {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { state: 'absent' }
    return { state: 'unreadable', reason: (err as Error).message }
  }
  if (text.trim() === '') return { state: 'reset' }
  try {
    const h = JSON.parse(text) as Record<string, unknown>
    if (Number.isSafeInteger(h.seq) && typeof h.hash === 'string' && typeof h.at === 'string' && typeof h.keyId === 'string' && typeof h.signature === 'string') {
      return { state: 'ok', head: { seq: h.seq as number, hash: h.hash, at: h.at, keyId: h.keyId, signature: h.signature } }
    }
    return { state: 'unreadable', reason: 'not a signed checkpoint (seq, hash, at, keyId, signature)' }
  } catch (err) {
    return { state: 'unreadable', reason: `not JSON: ${(err as Error).message}` }
  }
}

/** Replaces the head atomically: a crash leaves the old head or the new one, never half of either. */
export async function writeHead(file: string, head: Checkpoint): Promise<void> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(`${JSON.stringify(head)}\n`)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
  // The rename is durable once the directory is synced.
  const dir = await open(dirname(file), 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}
