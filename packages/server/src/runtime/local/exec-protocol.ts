/**
 * @module runtime/local/exec-protocol — the frames spoken on a connection to a sandbox's exec socket,
 * where its supervisor (`tidepool-helper create`, after start) serves execs (pure). Each frame is one type byte, a 4-byte little-endian payload length, then the payload.
 *   control plane → helper: 'q' the request (first, once), 'i' stdin bytes, 'e' end of stdin
 *   helper → control plane: 'o' stdout bytes, 'r' stderr bytes, then one last frame: 'x' the exit code
 *   in decimal (128+N for signal N), or 'E' "<code>: <message>" when the command did not start.
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
}

export type ServerFrame =
  | { type: 'stdout' | 'stderr'; data: Buffer }
  | { type: 'exit'; code: number }
  | { type: 'error'; report: string }

export function frame(type: 'q' | 'i' | 'e', payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER)
  header[0] = type.charCodeAt(0)
  header.writeUInt32LE(payload.length, 1)
  return payload.length === 0 ? header : Buffer.concat([header, payload])
}

/**
 * The 'q' frame: NUL-terminated fields uid, gid, cwd, clone-into, then three lists, each a count and
 * its items: cgroup files, argv, environment as K=V. A NUL inside a field would split it, so it is refused.
 */
export function requestFrame(r: ExecServerRequest): Buffer {
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`)
  const fields = [String(r.uid), String(r.gid), r.cwd, r.cloneInto, ...list(r.cgroupProcs), ...list(r.cmd), ...list(env)]
  const bad = fields.find((f) => f.includes('\0'))
  if (bad !== undefined) throw new TypeError(`a command, cwd or environment entry contains a NUL byte: ${JSON.stringify(bad.slice(0, 80))}`)
  return frame('q', Buffer.from(`${fields.join('\0')}\0`, 'utf8'))
}

function list(items: string[]): string[] {
  return [String(items.length), ...items]
}

/** Turns the helper's byte stream back into frames; chunks may split or join frames anywhere. */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0)

  push(chunk: Buffer): ServerFrame[] {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk])
    const frames: ServerFrame[] = []
    while (buf.length >= FRAME_HEADER) {
      const len = buf.readUInt32LE(1)
      if (buf.length < FRAME_HEADER + len) break
      frames.push(decode(buf[0]!, buf.subarray(FRAME_HEADER, FRAME_HEADER + len)))
      buf = buf.subarray(FRAME_HEADER + len)
    }
    this.#pending = buf
    return frames
  }

  /** Bytes of a frame that has not fully arrived. */
  get partial(): number {
    return this.#pending.length
  }
}

function decode(type: number, payload: Buffer): ServerFrame {
  switch (String.fromCharCode(type)) {
    case 'o':
      return { type: 'stdout', data: payload }
    case 'r':
      return { type: 'stderr', data: payload }
    case 'x':
      return { type: 'exit', code: Number(payload.toString('ascii')) }
    case 'E':
      return { type: 'error', report: payload.toString('utf8').trim() }
    default:
      throw new Error(`tidepool-helper sent a frame of unknown type ${type}`)
  }
}
