/** @module sandbox-files — `sbx.files`: read, write, list, stat, remove, rename, makeDir (E2B-shaped). */
import { ApiError } from './api-error.js'
import type { Client, RawBody } from './client.js'
import type { FileEntry } from './contract/sandbox.js'

/** Per-call options of the file methods. */
export interface FileOptions {
  /** Abort the request. */
  signal?: AbortSignal
  /** Time limit of the HTTP request in ms (default: the client's). */
  requestTimeoutMs?: number
}

/** Options of {@link Files.read}. */
export interface ReadOptions extends FileOptions {
  /**
   * `'text'` (default, decoded as UTF-8), `'bytes'` (Uint8Array), `'blob'`, or `'stream'` (a
   * ReadableStream read as it arrives: for files too large to hold; cancel it to stop).
   */
  format?: 'text' | 'bytes' | 'blob' | 'stream'
}

/** One file of a batch {@link Files.write}. */
export interface WriteEntry {
  path: string
  data: RawBody
}

/**
 * `sbx.files`: the sandbox's filesystem. Paths are inside the sandbox; relative paths start at
 * `/home/user`. Errors are `ApiError`s (`not_found`, `invalid_request` for a path that escapes, …).
 */
export class Files {
  /** @internal Reached as `sbx.files`. */
  constructor(
    private readonly client: Client,
    private readonly sandboxId: string,
  ) {}

  /** Read a file: text by default, or `{ format: 'bytes' }` / `{ format: 'blob' }`. */
  read(path: string, opts?: ReadOptions & { format?: 'text' }): Promise<string>
  read(path: string, opts: ReadOptions & { format: 'bytes' }): Promise<Uint8Array>
  read(path: string, opts: ReadOptions & { format: 'blob' }): Promise<Blob>
  read(path: string, opts: ReadOptions & { format: 'stream' }): Promise<ReadableStream<Uint8Array>>
  async read(path: string, opts: ReadOptions = {}): Promise<string | Uint8Array | Blob | ReadableStream<Uint8Array>> {
    if (opts.format === 'stream') return this.client.rawStream('readFile', { id: this.sandboxId, path }, call(opts))
    const bytes = await this.client.readFile({ id: this.sandboxId, path }, call(opts))
    if (opts.format === 'bytes') return bytes
    if (opts.format === 'blob') return new Blob([bytes as Uint8Array<ArrayBuffer>])
    return new TextDecoder().decode(bytes)
  }

  /**
   * Write a file (strings as UTF-8; a ReadableStream or AsyncIterable is streamed), creating parent
   * directories; replaces an existing file atomically (readers see the old file or the whole new one).
   * Also takes a list of `{ path, data }` to write several files, at most 4 at a time (the server
   * limits concurrent transfers per token).
   */
  write(path: string, data: RawBody, opts?: FileOptions): Promise<FileEntry>
  write(files: WriteEntry[], opts?: FileOptions): Promise<FileEntry[]>
  async write(pathOrFiles: string | WriteEntry[], dataOrOpts?: RawBody | FileOptions, maybeOpts?: FileOptions): Promise<FileEntry | FileEntry[]> {
    if (Array.isArray(pathOrFiles)) {
      const opts = (dataOrOpts ?? {}) as FileOptions
      const files = pathOrFiles
      const out: FileEntry[] = new Array(files.length)
      let next = 0
      const worker = async () => {
        for (let i = next++; i < files.length; i = next++) out[i] = await this.write(files[i]!.path, files[i]!.data, opts)
      }
      await Promise.all(Array.from({ length: Math.min(batchConcurrency, files.length) }, worker))
      return out
    }
    const path = pathOrFiles
    const stat = await this.client.writeFile({ id: this.sandboxId, path, content: dataOrOpts as RawBody }, call(maybeOpts))
    return entryOf(stat, 'write', path)
  }

  /** Entries of a directory; `depth` > 1 also lists subdirectories (up to 8 levels). */
  async list(path: string, opts: FileOptions & { depth?: number } = {}): Promise<FileEntry[]> {
    return (await this.client.listFiles({ id: this.sandboxId, path, depth: opts.depth }, call(opts))).items
  }

  /** Whether anything exists at `path`. */
  async exists(path: string, opts?: FileOptions): Promise<boolean> {
    return (await this.client.statFile({ id: this.sandboxId, path }, call(opts))).exists
  }

  /** What is at `path` (type, size, mode, modifiedAt); `ApiError` `not_found` if nothing. */
  async getInfo(path: string, opts?: FileOptions): Promise<FileEntry> {
    const stat = await this.client.statFile({ id: this.sandboxId, path }, call(opts))
    if (!stat.exists || !stat.entry) throw new ApiError('not_found', `${path} does not exist in sandbox ${this.sandboxId}`, { status: 404 })
    return stat.entry
  }

  /** Remove a file or a directory tree. Removing what is not there is not an error. */
  async remove(path: string, opts?: FileOptions): Promise<void> {
    await this.client.deleteFile({ id: this.sandboxId, path }, call(opts))
  }

  /** Move or rename; resolves to the entry at its new path. */
  async rename(from: string, to: string, opts?: FileOptions): Promise<FileEntry> {
    return entryOf(await this.client.renameFile({ id: this.sandboxId, from, to }, call(opts)), 'rename', to)
  }

  /**
   * Create a directory and its parents; resolves to its entry. Unlike E2B (which resolves to `false`
   * when it already existed), an existing directory is simply returned.
   */
  async makeDir(path: string, opts?: FileOptions): Promise<FileEntry> {
    return entryOf(await this.client.makeDir({ id: this.sandboxId, path }, call(opts)), 'makeDir', path)
  }
}

/** Below the server's default files.maxConcurrentTransfers (8), leaving room for other calls of the same token. */
const batchConcurrency = 4

function call(opts: FileOptions = {}): { signal?: AbortSignal; timeoutMs?: number } {
  return { signal: opts.signal, timeoutMs: opts.requestTimeoutMs }
}

function entryOf(stat: { exists: boolean; entry?: FileEntry | undefined }, what: string, path: string): FileEntry {
  if (stat.entry) return stat.entry
  throw new ApiError('internal', `${what} ${path}: the server did not return the file's entry`)
}
