/** @module runtime/local/exec-socket — where a sandbox's supervisor listens for execs, and connecting to it. */
import { createHash } from 'node:crypto'
import { createConnection } from 'node:net'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { retry } from '../../core/retry.js'
import { errnoOf } from './backoff.js'

/** sockaddr_un.sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107

/** Where the short fallback sockets live (0700, root's). */
export const FALLBACK_SOCKET_DIR = '/run/tidepool'

/**
 * `<sandbox dir>/exec.sock`, or, when that is too long for a Unix socket path, a name derived from it
 * under /run/tidepool (the runtime creates that directory and removes the socket on destroy).
 */
export function execSocketPath(sandboxDir: string): string {
  const inside = join(sandboxDir, 'exec.sock')
  if (Buffer.byteLength(inside) <= MAX_SOCKET_PATH) return inside
  return join(FALLBACK_SOCKET_DIR, `${createHash('sha256').update(sandboxDir).digest('hex').slice(0, 32)}.sock`)
}

/**
 * A connection to a sandbox's exec socket. A full accept queue (many execs at once) answers EAGAIN:
 * that is retried a few times with a short backoff instead of failing the command.
 */
export function dialExec(path: string, attempts = 8): Promise<Socket> {
  return retry(() => dialOnce(path), { attempts, delayMs: (n) => 2 * 2 ** n, retryable: (err) => errnoOf(err) === 'EAGAIN' })
}

function dialOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path })
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}
