/** @module service/files — files inside a sandbox, done by small commands run inside it. */
import { posix } from 'node:path'
import type { FileEntry, FileStat, Principal } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { CommandService } from './commands.js'

/*
 * Why commands inside the sandbox instead of host file I/O on its upper layer: the path is resolved by the
 * sandbox's own kernel view (its mount namespace, its root, its user), so no `..` or symlink — however
 * crafted — can reach a host file, and permissions are the sandbox user's. The cost is one exec per call.
 */

const maxReadBytes = 256 * 1024 * 1024
const fileOpTimeoutMs = 120_000
/** find -printf fields: type, size, mode, mtime, path; NUL-terminated so any file name survives. */
const findFormat = '%y\\t%s\\t%m\\t%T@\\t%p\\0'

export class FileService {
  constructor(private readonly commands: CommandService) {}

  async read(p: Principal, id: string, path: string): Promise<Uint8Array> {
    const abs = resolvePath(path)
    const script = 'if [ -d "$1" ]; then exit 21; fi; if [ ! -e "$1" ]; then exit 2; fi; exec cat -- "$1"'
    const r = await this.commands.runBytes(p, id, this.#op(['/bin/sh', '-c', script, 'sh', abs]), maxReadBytes)
    this.#check(r.exit.exitCode, r.stderr, abs)
    return r.stdout
  }

  async write(p: Principal, id: string, path: string, content: Uint8Array): Promise<FileStat> {
    const abs = resolvePath(path)
    const script = 'if [ -d "$1" ]; then exit 21; fi; mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
    const r = await this.commands.runBytes(p, id, { ...this.#op(['/bin/sh', '-c', script, 'sh', abs]), stdin: content }, 64 * 1024)
    this.#check(r.exit.exitCode, r.stderr, abs)
    return this.stat(p, id, abs)
  }

  async list(p: Principal, id: string, path: string, depth: number): Promise<FileEntry[]> {
    const abs = resolvePath(path)
    const script = `if [ ! -e "$1" ]; then exit 2; fi; if [ ! -d "$1" ]; then exit 20; fi; exec find "$1" -mindepth 1 -maxdepth ${depth} -printf '${findFormat}'`
    const r = await this.commands.runBytes(p, id, this.#op(['/bin/sh', '-c', script, 'sh', abs]), 64 * 1024 * 1024)
    this.#check(r.exit.exitCode, r.stderr, abs)
    return parseFind(r.stdout).sort((a, b) => (a.path < b.path ? -1 : 1))
  }

  async stat(p: Principal, id: string, path: string): Promise<FileStat> {
    const abs = resolvePath(path)
    const script = `if [ ! -e "$1" ] && [ ! -L "$1" ]; then exit 2; fi; exec find "$1" -maxdepth 0 -printf '${findFormat}'`
    const r = await this.commands.runBytes(p, id, this.#op(['/bin/sh', '-c', script, 'sh', abs]), 64 * 1024)
    if (r.exit.exitCode === 2) return { exists: false }
    this.#check(r.exit.exitCode, r.stderr, abs)
    const [entry] = parseFind(r.stdout)
    return entry ? { exists: true, entry } : { exists: false }
  }

  /** Idempotent: removing what is not there succeeds. */
  async remove(p: Principal, id: string, path: string): Promise<void> {
    const abs = resolvePath(path)
    if (abs === '/') throw new AppError('invalid_request', 'path: refusing to remove / ; name what to remove')
    const r = await this.commands.runBytes(p, id, this.#op(['rm', '-rf', '--', abs]), 64 * 1024)
    this.#check(r.exit.exitCode, r.stderr, abs)
  }

  async makeDir(p: Principal, id: string, path: string): Promise<FileStat> {
    const abs = resolvePath(path)
    const r = await this.commands.runBytes(p, id, this.#op(['mkdir', '-p', '--', abs]), 64 * 1024)
    this.#check(r.exit.exitCode, r.stderr, abs)
    return this.stat(p, id, abs)
  }

  async rename(p: Principal, id: string, from: string, to: string): Promise<FileStat> {
    const src = resolvePath(from)
    const dst = resolvePath(to)
    const script = 'if [ ! -e "$1" ] && [ ! -L "$1" ]; then exit 2; fi; mkdir -p -- "$(dirname -- "$2")" && mv -T -- "$1" "$2"'
    const r = await this.commands.runBytes(p, id, this.#op(['/bin/sh', '-c', script, 'sh', src, dst]), 64 * 1024)
    this.#check(r.exit.exitCode, r.stderr, src)
    return this.stat(p, id, dst)
  }

  #op(cmd: string[]) {
    return { cmd, user: 'user' as const, timeoutMs: fileOpTimeoutMs, cwd: '/home/user' }
  }

  #check(code: number, stderr: string, path: string): void {
    if (code === 0) return
    // stderr first: sh also exits 2 when a redirection is refused.
    if (/Permission denied|Read-only file system|Operation not permitted/.test(stderr)) {
      throw new AppError('policy_denied', `permission denied for ${path}: the sandbox user cannot access it (${firstLine(stderr)})`)
    }
    if (code === 2 || /No such file/.test(stderr)) throw new AppError('not_found', `${path} does not exist in the sandbox`)
    if (code === 21) throw new AppError('invalid_request', `${path} is a directory; list it with ?list=1`)
    if (code === 20 || /Not a directory/.test(stderr)) throw new AppError('invalid_request', `${path} is not a directory`)
    if (/No space left/.test(stderr)) throw new AppError('quota_exceeded', `no space left writing ${path}`, { scope: 'sandbox:disk', limit: 0, used: 0, retryAfter: 1 })
    throw new AppError('internal', `file operation on ${path} failed (exit ${code}): ${firstLine(stderr)}`)
  }
}

/**
 * Relative paths start at /home/user. `..` segments are refused outright: they could not leave the
 * sandbox (resolution happens inside it), but a path that climbs is almost always a bug or a probe.
 */
export function resolvePath(path: string): string {
  if (path.includes('\0')) throw new AppError('invalid_request', 'path must not contain NUL bytes')
  if (path.split('/').includes('..')) {
    throw new AppError('invalid_request', `path ${JSON.stringify(path)} contains '..'; use an absolute path inside the sandbox`, [{ path: 'path', message: "'..' is not allowed" }])
  }
  const abs = path.startsWith('/') ? path : posix.join('/home/user', path)
  return posix.normalize(abs).replace(/(.)(?<!\/\/)\/+$/, '$1')
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
      mode: `0${mode}`,
      modifiedAt: new Date(Number(mtime) * 1000).toISOString(),
    })
  }
  return entries
}

const firstLine = (s: string) => s.trim().split('\n')[0]?.slice(0, 300) ?? ''
