/**
 * @module runtime/local/exec-protocol — the frames spoken on a connection to a sandbox's exec socket,
 * where its supervisor (`tidepool-helper create`, after start) serves execs (pure). Each frame is one
 * type byte, a 4-byte little-endian payload length, then the payload.
 *   control plane → helper: 'q' the request (first, once), 'i' stdin bytes, 'e' end of stdin,
 *   'w' a new pty size (columns and rows, 16-bit little-endian each), 's' a signal for the main process
 *   helper → control plane: 'o' stdout bytes, 'r' stderr bytes, then one last frame: 'x' the exit code
 *   in decimal (128+N for signal N), followed by " timeout" when the handler killed the command at its
 *   deadline, or 'E' "<code>: <message>" when the command did not start.
 */

export const FRAME_HEADER = 5

export interface ExecServerRequest {
  /** uid and gid inside the sandbox. */
  uid: number
  gid: number
  /** Absolute cwd inside the sandbox. */
  cwd: string
  /** A cgroup2 directory the command is cloned straight into, or '' (then cgroupProcs are joined). */
  cloneInto: string
  /** cgroup.procs files the command joins right after fork (pure v1 hosts): its own exec cgroup first. */
  cgroupProcs: string[]
  /** argv; argv[0] is looked up on PATH inside the sandbox. */
  cmd: string[]
  env: Record<string, string>
  /** The handler kills the command's whole tree this many ms after it starts (0: never), control plane or not. */
  timeoutMs: number
  /** Keep running when the connection goes away (a background command); otherwise that kills the tree. */
  detached: boolean
  /** Absolute host path where the handler writes "<code>[ timeout]" when the command ends, or ''. */
  statusFile: string
  /** Run on a pseudo-terminal of this size (stdout carries everything; there is no stderr apart). */
  pty?: { cols: number; rows: number } | undefined
}

export type ServerFrame = { type: 'stdout' | 'stderr'; data: Buffer } | { type: 'exit'; code: number; timedOut: boolean } | { type: 'error'; report: string }

export function frame(type: 'q' | 'i' | 'e' | 'w' | 's', payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER)
  header[0] = type.charCodeAt(0)
  header.writeUInt32LE(payload.length, 1)
  return payload.length === 0 ? header : Buffer.concat([header, payload])
}

/**
 * The 'q' frame: NUL-terminated fields uid, gid, cwd, clone-into, then three lists, each a count and
 * its items: cgroup files, argv, environment as K=V, then timeout-ms, detached (0|1), status-file, and
 * the pty's columns and rows (0 0: no pty).
 * A NUL inside a field would split it, so it is refused.
 */
export function requestFrame(r: ExecServerRequest): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`)
  const timeout = Number.isFinite(r.timeoutMs) && r.timeoutMs > 0 ? String(Math.ceil(r.timeoutMs)) : '0'
  const fields = [String(r.uid), String(r.gid), r.cwd, r.cloneInto, ...list(r.cgroupProcs), ...list(r.cmd), ...list(env), timeout, r.detached ? '1' : '0', r.statusFile, ...ptyFields(r.pty)]
  const bad = fields.find((f) => f.includes('\0'))
  if (bad !== undefined) throw new TypeError(`a command, cwd or environment entry contains a NUL byte: ${JSON.stringify(bad.slice(0, 80))}`)
  return frame('q', Buffer.from(`${fields.join('\0')}\0`, 'utf8'))
}

function ptyFields(pty: ExecServerRequest['pty']): string[] {
  if (!pty) return ['0', '0']
  const { cols, rows } = pty
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 65535 || rows > 65535)
    throw new TypeError(`a pty is 1..65535 columns by 1..65535 rows (got ${cols}x${rows})`)
  return [String(cols), String(rows)]
}

/** The 'w' frame: the pty's new size. */
export function resizeFrame(cols: number, rows: number): Buffer {
  const payload = Buffer.alloc(4)
  payload.writeUInt16LE(cols, 0)
  payload.writeUInt16LE(rows, 2)
  return frame('w', payload)
}

/** The 's' frame: a signal (1..31) for the command's main process (its tree is ended by kill, not by this). */
export function signalFrame(signal: number): Buffer {
  if (!Number.isInteger(signal) || signal < 1 || signal > 31) throw new TypeError(`a signal is a number from 1 to 31 (got ${signal})`)
  return frame('s', Buffer.from([signal]))
}

function list(items: string[]): string[] {
  return [String(items.length), ...items]
}

/**
 * Turns the helper's byte stream back into frames; chunks may split or join frames anywhere. Output
 * is handed on as it arrives (a frame split across chunks comes out in pieces, each a view of the
 * chunk, never a copy); the small exit and error frames come out whole.
 */
export class FrameDecoder {
  /** Header bytes of the next frame, while fewer than five are in. */
  #header: Buffer = Buffer.alloc(0)
  #type = 0
  /** Payload bytes of the current frame still to come; -1 while reading a header. */
  #left = -1
  /** Payload of an exit or error frame so far. */
  #small: Buffer[] = []

  push(chunk: Buffer): ServerFrame[] {
    const frames: ServerFrame[] = []
    let at = 0
    while (at < chunk.length || this.#left === 0) {
      if (this.#left < 0) {
        const need = FRAME_HEADER - this.#header.length
        this.#header = Buffer.concat([this.#header, chunk.subarray(at, at + need)])
        at = Math.min(at + need, chunk.length)
        if (this.#header.length < FRAME_HEADER) break
        this.#type = this.#header[0]!
        this.#left = this.#header.readUInt32LE(1)
        this.#header = Buffer.alloc(0)
        if (!isData(this.#type) && !isLast(this.#type)) throw new Error(`tidepool-helper sent a frame of unknown type ${this.#type}`)
      }
      const take = Math.min(this.#left, chunk.length - at)
      const piece = chunk.subarray(at, at + take)
      at += take
      this.#left -= take
      if (!isData(this.#type)) this.#small.push(piece)
      else if (take > 0) frames.push(decode(this.#type, piece))
      if (this.#left === 0) {
        if (!isData(this.#type)) frames.push(decode(this.#type, Buffer.concat(this.#small)))
        this.#small = []
        this.#left = -1
      }
    }
    return frames
  }

  /** Bytes of a frame that has not fully arrived (0 between frames). */
  get partial(): number {
    return this.#left < 0 ? this.#header.length : FRAME_HEADER + this.#left
  }
}

function isData(type: number): boolean {
  return type === 0x6f /* o */ || type === 0x72 /* r */
}

function isLast(type: number): boolean {
  return type === 0x78 /* x */ || type === 0x45 /* E */
}

function decode(type: number, payload: Buffer): ServerFrame {
  switch (String.fromCharCode(type)) {
    case 'o':
      return { type: 'stdout', data: payload }
    case 'r':
      return { type: 'stderr', data: payload }
    case 'x': {
      const [code, flag] = payload.toString('ascii').split(' ')
      return { type: 'exit', code: Number(code), timedOut: flag === 'timeout' }
    }
    case 'E':
      return { type: 'error', report: payload.toString('utf8').trim() }
    default:
      throw new Error(`tidepool-helper sent a frame of unknown type ${type}`)
  }
}
