/**
 * @module runtime/local/port-connect — a TCP connection to a port inside a sandbox, through its
 * supervisor's exec socket (a 'p' connection, native/port-forward.h): no address on the host reaches
 * the port; only this process, over the 0600 socket, does.
 */
import { createConnection, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { retry } from '../../core/retry.js'
import type { RuntimeRef } from '../runtime.js'
import { errnoOf } from './backoff.js'
import { FRAME_HEADER } from './exec-protocol.js'
import { isRunning } from './proc.js'
import { RuntimeError, parseHelperReport } from './runtime-error.js'

/** How long the handler may take to answer the 'p' frame (it connects on loopback: at once, or refused). */
const REPLY_TIMEOUT_MS = 10_000
/** The largest error report we read back (the helper's are a few hundred bytes). */
const MAX_REPORT_BYTES = 4096

/** A port a caller may ask for: an integer 1..65535, else invalid_request. */
export function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw new RuntimeError('invalid_request', `port must be an integer 1-65535 (got ${JSON.stringify(port)})`)
  return port
}

/** The 'p' frame asking the handler to connect to `port`. */
export function portFrame(port: number): Buffer {
  const payload = Buffer.from(String(checkPort(port)), 'ascii')
  const header = Buffer.allocUnsafe(FRAME_HEADER)
  header[0] = 0x70 /* p */
  header.writeUInt32LE(payload.length, 1)
  return Buffer.concat([header, payload])
}

/**
 * Opens the stream: resolves once the handler has connected inside (its 'k' frame), with the socket
 * carrying the TCP bytes both ways (half-close passes through: end() is a FIN to the server). Rejects
 * with `bad_gateway` when nothing listens there, `not_found` when the sandbox is gone.
 */
export async function connectPort(socketPath: string, ref: RuntimeRef, port: number): Promise<Duplex> {
  checkPort(port)
  if (!isRunning(ref.pid, ref.startTime)) throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its init, pid ${ref.pid}, is gone)`)
  const socket = await retry(() => dial(socketPath), { attempts: 8, delayMs: (n) => 2 * 2 ** n, retryable: (err) => errnoOf(err) === 'EAGAIN' }).catch((err: unknown) => {
    if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ECONNREFUSED') throw new RuntimeError('not_found', `sandbox ${ref.id} is not running (its exec socket is gone)`, { cause: err })
    throw err
  })
  socket.setNoDelay?.(true)
  socket.write(portFrame(port))
  return awaitReply(socket, ref.id, port)
}

function dial(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path, allowHalfOpen: true })
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

function awaitReply(socket: Socket, id: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    // Read in paused mode ('readable' + read()): once the listener is removed the socket is neither
    // paused nor flowing, so the caller's own 'data' listener or pipe() starts the flow, and no byte of
    // the stream is emitted to nobody in between.
    let got: Buffer = Buffer.alloc(0)
    const timer = setTimeout(() => fail(new RuntimeError('internal', `sandbox ${id}: port ${port}: the sandbox's supervisor did not answer within ${REPLY_TIMEOUT_MS} ms`)), REPLY_TIMEOUT_MS)
    const done = () => {
      clearTimeout(timer)
      socket.off('readable', onReadable)
      socket.off('error', fail)
      socket.off('end', onEnd)
    }
    function fail(err: Error) {
      done()
      socket.destroy()
      reject(err)
    }
    function onEnd() {
      fail(new RuntimeError('not_found', `sandbox ${id}: port ${port}: the sandbox's supervisor closed the connection (is the sandbox ending?)`))
    }
    function onReadable() {
      for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) {
        got = got.length === 0 ? chunk : Buffer.concat([got, chunk])
        if (got.length > FRAME_HEADER + MAX_REPORT_BYTES) break
      }
      if (got.length < FRAME_HEADER) return
      const type = String.fromCharCode(got[0]!)
      const len = got.readUInt32LE(1)
      if (type === 'k' && len === 0) {
        done()
        // Bytes the server sent at once may share the chunk with the reply: they belong to the stream.
        if (got.length > FRAME_HEADER) socket.unshift(got.subarray(FRAME_HEADER))
        resolve(socket)
        return
      }
      if (type !== 'E' || len > MAX_REPORT_BYTES)
        return fail(new RuntimeError('internal', `sandbox ${id}: port ${port}: unexpected reply from the sandbox's supervisor (frame ${JSON.stringify(type)})`))
      if (got.length < FRAME_HEADER + len) return
      const { code, message } = parseHelperReport(
        got
          .subarray(FRAME_HEADER, FRAME_HEADER + len)
          .toString('utf8')
          .trim(),
      )
      fail(new RuntimeError(code, code === 'not_found' ? `sandbox ${id} is not running: ${message}` : `sandbox ${id}: ${message}`))
    }
    socket.on('readable', onReadable)
    socket.once('error', fail)
    socket.once('end', onEnd)
  })
}
