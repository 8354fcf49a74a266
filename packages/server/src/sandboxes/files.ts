/** @module sandboxes/files — files inside a sandbox, done by small commands run inside it; reads and writes stream. */
import { randomBytes } from 'node:crypto'
import { posix } from 'node:path'
import type { FileEntry, FileStat, Principal } from '@tidepool/sdk'
import type { Config } from '../config.js'
import { AppError } from '../core/errors.js'
import type { ExecExit, ExecHandle, Runtime } from '../runtime/runtime.js'
import { ByteStream } from '../kit/byte-stream.js'
import { cleanupScript, exits, fileError, kernelFsError, listScript, mkdirScript, readScript, renameScript, writeScript } from './file-scripts.js'
import { OutputBuffer } from './output-buffer.js'
import type { SandboxService } from './sandboxes.js'
import { TransferSlots } from './transfer-slots.js'

/*
 * Why commands inside the sandbox instead of host file I/O on its upper layer: the path is resolved by the
 * sandbox's own kernel view (its mount namespace, its root, its user), so no `..` or symlink — however
 * crafted — can reach a host file, and permissions are the sandbox user's. The cost is one exec per call.
 *
 * Reads and writes stream: a file flows between the HTTP connection and the command's stdout/stdin one
 * chunk at a time, each side waiting for the other (backpressure), so the control plane holds no file
 * whole, and a token holds at most files.maxConcurrentTransfers of them open at once.
 */

const smallOpTimeoutMs = 120_000
/** find -printf fields: type, size, mode, mtime, path; NUL-terminated so any file name survives. */
const findFormat = '%y\\t%s\\t%m\\t%T@\\t%p\\0'
/** File commands get this environment and nothing else (not the sandbox's envs: a PATH there must not change `cat`). */
const fileEnv = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/home/user', USER: 'user', LANG: 'C.UTF-8' }
const EXITED = Symbol('exited')

export interface FileDeps {
  runtime: Runtime
  sandboxes: Pick<SandboxService, 'live'>
  config: Pick<Config, 'files'>
}

export class FileService {
  readonly slots: TransferSlots

  constructor(private readonly deps: FileDeps) {
    this.slots = new TransferSlots(deps.config.files.maxConcurrentTransfers)
  }

  /**
   * Streams a regular file out. Resolves once the file is open and its first bytes (or its end) are there,
   * so a missing file, a directory or a FIFO is a coded 4xx, not a broken 200. Holds a transfer slot until
   * the stream ends or is cancelled.
   */
  async read(p: Principal, id: string, path: string): Promise<ByteStream> {
    const abs = resolvePath(path)
    const max = this.deps.config.files.maxReadBytes
    const release = this.slots.acquire(p)
    let handle: ExecHandle | undefined
    let out: AsyncIterator<Buffer> | undefined
    try {
      handle = await this.#open(p, id, ['/bin/sh', '-c', readScript, 'sh', abs, String(max)], this.deps.config.files.transferTimeoutMs)
      handle.stdin.end()
      const h = handle
      const err = drain(h.stderr, 64 * 1024)
      const it = (out = h.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>)
      const first = await it.next()
      if (first.done) {
        const exit = await finished(h, err.ended)
        release()
        if (exit.exitCode !== 0) throw this.#failure('read', 'path', abs, exit, err.buf.text())
        return ByteStream.of(new Uint8Array(0))
      }
      let pending: IteratorResult<Buffer> | undefined = first
      return new ByteStream(
        {
          next: async () => {
            const r = pending ?? (await it.next())
            pending = undefined
            if (!r.done) return { done: false, value: r.value }
            const exit = await finished(h, err.ended)
            release()
            // After the first byte the status is sent: a failure now can only cut the response short.
            if (exit.exitCode !== 0) throw this.#failure('read', 'path', abs, exit, err.buf.text())
            return { done: true, value: undefined }
          },
          cancel: async () => {
            // The slot first, and drop unread output: kill() resolves only once the output has drained.
            release()
            discard(it)
            await h.kill()
          },
        },
        { max, tooLarge: (n) => new AppError('payload_too_large', `path: ${abs} grew past files.maxReadBytes (${n}) while it was read; read it in parts with exec`) },
      )
    } catch (e) {
      release()
      if (out) discard(out)
      else handle?.stdout.resume()
      await handle?.kill()
      throw e
    }
  }

  /** Streams `content` into a temp file beside `path`, then renames it over: the old file or the whole new one. */
  async write(p: Principal, id: string, path: string, content: Uint8Array | AsyncIterable<Uint8Array>): Promise<FileStat> {
    const abs = resolvePath(path)
    refuseKernelFs(abs, 'path')
    const body = content instanceof ByteStream ? content : content instanceof Uint8Array ? ByteStream.of(content) : ByteStream.from(content)
    const release = this.slots.acquire(p)
    const tmp = `.tidepool-upload-${randomBytes(6).toString('hex')}`
    try {
      const h = await this.#open(p, id, ['/bin/sh', '-c', writeScript, 'sh', abs, tmp], this.deps.config.files.transferTimeoutMs)
      const err = drain(h.stderr, 64 * 1024)
      const out = drain(h.stdout, 8 * 1024)
      const exited = h.wait().then(
        (): typeof EXITED => EXITED,
        (): typeof EXITED => EXITED,
      )
      let exit: ExecExit
      try {
        await pump(body, h.stdin, exited)
        exit = await finished(h, Promise.all([err.ended, out.ended]))
      } catch (e) {
        // The body was cut off (client gone) or too large: stdin must NOT end normally, or the partial
        // file would be renamed over the old one. Kill, then remove the temp file the kill left behind.
        await h.kill()
        await Promise.race([out.ended, new Promise((r) => setTimeout(r, 2000).unref())])
        await this.#removeTemp(p, id, out.buf.text(), tmp)
        throw e
      }
      if (exit.exitCode !== 0) {
        await this.#removeTemp(p, id, out.buf.text(), tmp)
        throw this.#failure('write', 'path', abs, exit, err.buf.text())
      }
    } finally {
      release()
    }
    return this.stat(p, id, abs)
  }

  async list(p: Principal, id: string, path: string, depth: number): Promise<FileEntry[]> {
    const abs = resolvePath(path)
    const r = await this.#run(p, id, ['/bin/sh', '-c', listScript, 'sh', abs, String(depth), findFormat], 64 * 1024 * 1024)
    if (r.exit.exitCode !== 0) throw this.#failure('list', 'path', abs, r.exit, r.stderr)
    return parseFind(r.stdout).sort((a, b) => (a.path < b.path ? -1 : 1))
  }

  async stat(p: Principal, id: string, path: string): Promise<FileStat> {
    const abs = resolvePath(path)
    const script = `if [ ! -e "$1" ] && [ ! -L "$1" ]; then exit 2; fi; exec find "$1" -maxdepth 0 -printf '${findFormat}'`
    const r = await this.#run(p, id, ['/bin/sh', '-c', script, 'sh', abs], 64 * 1024)
    if (r.exit.exitCode === exits.notFound && !r.stderr) return { exists: false }
    if (r.exit.exitCode !== 0) throw this.#failure('stat', 'path', abs, r.exit, r.stderr)
    const [entry] = parseFind(r.stdout)
    return entry ? { exists: true, entry } : { exists: false }
  }

  /** Idempotent: removing what is not there succeeds. */
  async remove(p: Principal, id: string, path: string): Promise<void> {
    const abs = resolvePath(path)
    if (abs === '/') throw new AppError('invalid_request', 'path: refusing to remove / ; name what to remove')
    refuseKernelFs(abs, 'path')
    const r = await this.#run(p, id, ['rm', '-rf', '--', abs], 64 * 1024)
    if (r.exit.exitCode !== 0) throw this.#failure('remove', 'path', abs, r.exit, r.stderr)
  }

  async makeDir(p: Principal, id: string, path: string): Promise<FileStat> {
    const abs = resolvePath(path)
    refuseKernelFs(abs, 'path')
    const r = await this.#run(p, id, ['/bin/sh', '-c', mkdirScript, 'sh', abs], 64 * 1024)
    if (r.exit.exitCode !== 0) throw this.#failure('create', 'path', abs, r.exit, r.stderr)
    return this.stat(p, id, abs)
  }

  async rename(p: Principal, id: string, from: string, to: string): Promise<FileStat> {
    const src = resolvePath(from, 'from')
    const dst = resolvePath(to, 'to')
    refuseKernelFs(src, 'from')
    refuseKernelFs(dst, 'to')
    const r = await this.#run(p, id, ['/bin/sh', '-c', renameScript, 'sh', src, dst], 64 * 1024)
    const code = r.exit.exitCode
    if (code === exits.notFound) throw this.#failure('move', 'from', src, r.exit, r.stderr)
    if (code === exits.parentIsFile || code === 31) throw this.#failure('create', 'to', dst, r.exit, r.stderr)
    if (code !== 0) throw this.#failure('move', 'to', `${dst} (from ${src})`, r.exit, r.stderr)
    return this.stat(p, id, dst)
  }

  async #open(p: Principal, id: string, cmd: string[], timeoutMs: number): Promise<ExecHandle> {
    const sbx = await this.deps.sandboxes.live(p, id)
    const handle = this.deps.runtime.exec(sbx.ref, { cmd, cwd: '/home/user', env: fileEnv, user: 'user', timeoutMs })
    handle.stdin.on('error', () => {}) // a command that exits without reading stdin closes the pipe: not an error
    return handle
  }

  /** A small command: stdout up to `maxBytes` (more fails loudly), stderr's first 64 KiB. */
  async #run(p: Principal, id: string, cmd: string[], maxBytes: number): Promise<{ exit: ExecExit; stdout: Buffer; stderr: string }> {
    const h = await this.#open(p, id, cmd, smallOpTimeoutMs)
    h.stdin.end()
    const chunks: Buffer[] = []
    let size = 0
    h.stdout.on('data', (c: Buffer) => {
      size += c.length
      if (size > maxBytes) void h.kill()
      else chunks.push(c)
    })
    const err = drain(h.stderr, 64 * 1024)
    const exit = await finished(h, Promise.all([err.ended, ended(h.stdout)]))
    if (size > maxBytes) throw new AppError('payload_too_large', `the answer is larger than ${maxBytes} bytes; ask for less (a smaller depth, a deeper path)`)
    return { exit, stdout: Buffer.concat(chunks), stderr: err.buf.text() }
  }

  #failure(verb: Parameters<typeof fileError>[0], field: string, path: string, exit: ExecExit, stderr: string): AppError {
    if (exit.timedOut) return new AppError('invalid_request', `${field}: ${verb} ${path} did not finish within files.transferTimeoutMs and was stopped; nothing was changed`)
    if (exit.oomKilled) return new AppError('quota_exceeded', `${field}: ${verb} ${path} ran the sandbox out of memory`, { scope: 'sandbox:memory', limit: 0, used: 0, retryAfter: 1 })
    if (exit.exitCode > 128) {
      // Killed by a signal from inside the sandbox (or it ran out of something): not the client's input, not our bug.
      return new AppError('conflict', `${field}: ${verb} ${path} was interrupted inside the sandbox (signal ${exit.exitCode - 128}); nothing was changed, try again`)
    }
    return fileError(verb, field, path, exit.exitCode, stderr)
  }

  /** Best effort: the sandbox may be gone, and then so is the temp file. */
  async #removeTemp(p: Principal, id: string, printedDir: string, tmp: string): Promise<void> {
    const dir = printedDir.split('\n')[0]
    if (!dir?.startsWith('/')) return
    // Best effort, and nothing to log: the temp file is inside the sandbox and ends with it at the latest.
    await this.#run(p, id, ['/bin/sh', '-c', cleanupScript, 'sh', dir, tmp], 1024).catch(() => undefined)
  }
}

/**
 * Relative paths start at /home/user. `..` segments are refused outright: they could not leave the
 * sandbox (resolution happens inside it), but a path that climbs is almost always a bug or a probe.
 * Names over 255 bytes and paths over 4096 are refused here, before any command: the kernel would say
 * ENAMETOOLONG, which sh reports much like "not found".
 */
export function resolvePath(path: string, field = 'path'): string {
  if (path.includes('\0')) throw new AppError('invalid_request', `${field} must not contain NUL bytes`, [{ path: field, message: 'contains NUL' }])
  if (path.split('/').includes('..')) {
    throw new AppError('invalid_request', `${field} ${JSON.stringify(path)} contains '..'; use an absolute path inside the sandbox`, [{ path: field, message: "'..' is not allowed" }])
  }
  const abs = posix.normalize(path.startsWith('/') ? path : posix.join('/home/user', path)).replace(/(.)(?<!\/\/)\/+$/, '$1')
  const long = abs.split('/').find((name) => Buffer.byteLength(name) > 255)
  if (long !== undefined) {
    throw new AppError('invalid_request', `${field}: the name ${JSON.stringify(`${long.slice(0, 40)}…`)} is ${Buffer.byteLength(long)} bytes; a name may have at most 255 bytes`, [
      { path: field, message: 'a name is over 255 bytes' },
    ])
  }
  if (Buffer.byteLength(abs) > 4096)
    throw new AppError('invalid_request', `${field} is ${Buffer.byteLength(abs)} bytes; a path may have at most 4096 bytes`, [{ path: field, message: 'over 4096 bytes' }])
  return abs
}

/** Changes under /proc, /sys and /dev (but /dev/shm) are refused: they are kernel interfaces, not files. */
export function refuseKernelFs(abs: string, field: string): void {
  if (/^\/dev\/shm(\/|$)/.test(abs)) return
  if (/^\/(proc|sys|dev)(\/|$)/.test(abs)) throw kernelFsError(field, abs)
}

/**
 * Writes the body into stdin with backpressure; returns early (body left unread) if the command exits first.
 * Not Promise.race against `exited` in the loop: every race would hang a reaction (holding its chunk) on
 * that one long-lived promise until the command ends — the whole upload kept in memory.
 */
async function pump(body: ByteStream, stdin: NodeJS.WritableStream, exited: Promise<typeof EXITED>): Promise<void> {
  let gone = false
  let onExit: (() => void) | undefined
  void exited.then(() => {
    gone = true
    onExit?.()
  })
  const untilExit = <T>(p: (resolve: (v: T | typeof EXITED) => void, reject: (e: unknown) => void) => void) =>
    new Promise<T | typeof EXITED>((resolve, reject) => {
      onExit = () => resolve(EXITED)
      p(resolve, reject)
    }).finally(() => (onExit = undefined))
  while (!gone) {
    const r = await untilExit<IteratorResult<Uint8Array, undefined>>((resolve, reject) => void body.next().then(resolve, reject))
    if (r === EXITED) return
    if (r.done) {
      stdin.end()
      return
    }
    if (!stdin.write(r.value) && (await untilExit<void>((resolve) => stdin.once('drain', resolve))) === EXITED) return
  }
}

/** Reads and drops what is left: the runtime reports a command's end only after its output was taken. Bounded by the command's output. */
function discard(it: AsyncIterator<Buffer>): void {
  void (async () => {
    for (let r = await it.next(); !r.done; r = await it.next());
  })().catch(() => undefined)
}

function drain(stream: NodeJS.ReadableStream, cap: number): { buf: OutputBuffer; ended: Promise<void> } {
  const buf = new OutputBuffer(cap)
  stream.on('data', (c: Buffer) => buf.push(c))
  return { buf, ended: ended(stream) }
}

function ended(s: NodeJS.ReadableStream): Promise<void> {
  return new Promise<void>((r) => ((s as NodeJS.ReadableStream & { readableEnded?: boolean }).readableEnded ? r() : (s.once('end', () => r()), s.once('close', () => r()))))
}

/** The exit, once the output is drained too. */
async function finished(h: ExecHandle, outputEnded: Promise<unknown>): Promise<ExecExit> {
  const [exit] = await Promise.all([h.wait(), outputEnded])
  return exit
}

function parseFind(out: Buffer): FileEntry[] {
  const entries: FileEntry[] = []
  for (const rec of out.toString('utf8').split('\0')) {
    if (!rec) continue
    const [type, size, mode, mtime, ...rest] = rec.split('\t')
    const path = rest.join('\t')
    entries.push({
      name: posix.basename(path) || '/',
      path,
      type: type === 'f' ? 'file' : type === 'd' ? 'dir' : type === 'l' ? 'symlink' : 'other',
      size: Number(size),
      mode: (mode ?? '').padStart(4, '0'), // find prints 644 or 0; the API says 0644 and 0000
      modifiedAt: new Date(Number(mtime) * 1000).toISOString(),
    })
  }
  return entries
}
