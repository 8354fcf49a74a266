/** @module sandbox — the E2B-shaped `Sandbox` class: create, connect, list, kill; commands and files. */
import { ApiError, isApiError } from './api-error.js'
import { createClient, paginate, type Client, type FetchLike } from './client.js'
import type { CreateSandboxInput, Resources, Sandbox as SandboxInfo, SandboxMetrics, SandboxState } from './contract/sandbox.js'
import type { Snapshot as SnapshotInfo } from './contract/snapshots.js'
import { Commands } from './sandbox-commands.js'
import { Files } from './sandbox-files.js'
import { Ports } from './sandbox-ports.js'
import { runOnce, type OneShotOptions } from './sandbox-run.js'
import type { OneShotResult } from './contract/sandbox.js'

/** Where the server listens unless told otherwise (`tidepool up`'s default). */
export const DEFAULT_API_URL = 'http://127.0.0.1:7070'

/**
 * How to reach the server. Each falls back, in Node, to `TIDEPOOL_URL` / `TIDEPOOL_TOKEN` from the
 * environment (then `http://127.0.0.1:7070` for the URL); browsers and edge runtimes pass them.
 */
export interface ConnectionOptions {
  /** Server URL (E2B's name). Same as `baseUrl`. */
  apiUrl?: string
  /** Server URL. */
  baseUrl?: string
  /** API token (E2B's name). Same as `token`. */
  apiKey?: string
  /** API token. */
  token?: string
  /** fetch to use (default `globalThis.fetch`). */
  fetch?: FetchLike
  /** Extra headers on every request. */
  headers?: Record<string, string>
  /** Time limit of each HTTP request in ms (default 60 000; commands get their own timeout + 30 s). */
  requestTimeoutMs?: number
  /** Validate responses against the contract's zod schemas. */
  validate?: boolean
  /** Use this client instead of building one from the options above. */
  client?: Client
}

/** Options of {@link Sandbox.create}: the sandbox's settings plus how to reach the server. */
export interface SandboxOptions extends ConnectionOptions, CreateSandboxInput {}

/** Options of {@link Sandbox.list}. */
export interface SandboxListOptions extends ConnectionOptions {
  /** Filters: `metadata` (every key must match) and `state`. */
  query?: { metadata?: Record<string, string>; state?: SandboxState }
  /** Page size, 1–1000 (default 100). */
  limit?: number
  /** `nextToken` of the previous page. */
  nextToken?: string
}

/** A page of {@link Sandbox.list}. */
export interface SandboxInfoPage {
  items: SandboxInfo[]
  /** Pass as `nextToken` for the next page; absent on the last page. */
  nextToken?: string | undefined
}

const connectionKeys = ['apiUrl', 'baseUrl', 'apiKey', 'token', 'fetch', 'headers', 'requestTimeoutMs', 'validate', 'client'] as const satisfies readonly (keyof ConnectionOptions)[]

/**
 * A sandbox: an isolated place to run commands and keep files. Names follow E2B's SDK.
 *
 * ```ts
 * const sbx = await Sandbox.create({ template: 'default', metadata: { job: 'ci-42' } })
 * const r = await sbx.commands.run('uname -a && id && ls /')
 * await sbx.files.write('/workspace/hello.txt', 'hi')
 * console.log(r.exitCode, r.stdout, await sbx.files.read('/workspace/hello.txt'))
 * await sbx.kill()
 * ```
 */
export class Sandbox {
  /** Run commands. */
  readonly commands: Commands
  /** Read and write files. */
  readonly files: Files
  /** Reach servers listening inside (URLs, public exposure). */
  readonly ports: Ports
  #info: SandboxInfo

  /**
   * Wrap a sandbox you already have (e.g. from `client.createSandbox()`). Most code uses
   * {@link Sandbox.create} or {@link Sandbox.connect} instead.
   */
  constructor(
    /** The API client this sandbox talks through (every operation of the table is on it). */
    readonly client: Client,
    info: SandboxInfo,
  ) {
    this.#info = info
    this.commands = new Commands(client, info.id)
    this.files = new Files(client, info.id)
    this.ports = new Ports(client, info.id)
  }

  /**
   * `"<port>-<id>.sandbox.localhost:<api port>"`: the host (no scheme) where a server inside on `port`
   * is reached through the API server with the caller's token (E2B's getHost). See `sbx.ports.url`.
   */
  getHost(port: number): string {
    return this.ports.host(port)
  }

  /** The sandbox id, e.g. `sbx_k3j9x2m1q8w7`. */
  get sandboxId(): string {
    return this.#info.id
  }

  /** The sandbox as last seen by this object (updated by every call that returns it). */
  get info(): SandboxInfo {
    return this.#info
  }

  /**
   * Create a sandbox and wait until it is ready to run commands. Every setting is optional:
   * `template` (default `'default'`), `timeoutMs` (TTL, default 5 min), `metadata`, `envs`,
   * `resources`, `lifecycle: { onTimeout: 'kill' | 'pause', autoResume }`, `network`, `filesystem`.
   * The template may also come first: `Sandbox.create('default', { timeoutMs: 60_000 })`.
   */
  static async create(opts?: SandboxOptions): Promise<Sandbox>
  static async create(template: string, opts?: SandboxOptions): Promise<Sandbox>
  static async create(templateOrOpts?: string | SandboxOptions, maybeOpts?: SandboxOptions): Promise<Sandbox> {
    const opts: SandboxOptions = typeof templateOrOpts === 'string' ? { ...maybeOpts, template: templateOrOpts } : { ...templateOrOpts }
    const client = clientFor(opts)
    const input: Record<string, unknown> = { ...opts }
    for (const key of connectionKeys) delete input[key]
    return new Sandbox(client, await client.createSandbox(input as CreateSandboxInput))
  }

  /**
   * Attach to an existing sandbox by id (`ApiError` `not_found` if it is gone or another project's).
   * A paused sandbox stays paused: call `resume()`, or create it with `lifecycle.autoResume`.
   */
  static async connect(sandboxId: string, opts: ConnectionOptions = {}): Promise<Sandbox> {
    const client = clientFor(opts)
    return new Sandbox(client, await client.getSandbox({ id: sandboxId }))
  }

  /**
   * One page of this project's sandboxes, newest first, filtered by `query.metadata` and
   * `query.state`. For every page in turn use {@link Sandbox.paginate}.
   */
  static async list(opts: SandboxListOptions = {}): Promise<SandboxInfoPage> {
    const client = clientFor(opts)
    return client.listSandboxes(listInput(opts))
  }

  /**
   * Every sandbox matching the options, fetching pages as the loop goes:
   * `for await (const info of Sandbox.paginate({ query: { metadata: { job: 'ci-42' } } })) …`
   */
  static paginate(opts: SandboxListOptions = {}): AsyncGenerator<SandboxInfo, void, undefined> {
    const client = clientFor(opts)
    return paginate(client.listSandboxes, listInput(opts))
  }

  /**
   * Run one command in a fresh sandbox that is destroyed after (nothing is left behind): the same
   * isolation, limits and audit as a sandbox, for a CI step or an agent that needs one command, not a
   * session. A string runs with `/bin/sh -c`, an array is an argv. Resolves with `{ exitCode, stdout,
   * stderr, …, sandboxId }`; output streams to `onStdout` / `onStderr` when given.
   *
   * ```ts
   * const r = await Sandbox.run('npm test', { template: 'node', timeoutMs: 120_000 })
   * ```
   */
  static async run(cmd: string | string[], opts: OneShotOptions & ConnectionOptions = {}): Promise<OneShotResult> {
    const rest: Record<string, unknown> = { ...opts }
    for (const key of connectionKeys) delete rest[key]
    return runOnce(clientFor(opts), cmd, rest as OneShotOptions)
  }

  /** Destroy a sandbox by id. `true` once it is gone; `false` if there was no such sandbox. */
  static async kill(sandboxId: string, opts: ConnectionOptions = {}): Promise<boolean> {
    try {
      await clientFor(opts).deleteSandbox({ id: sandboxId })
      return true
    } catch (err) {
      if (isApiError(err, 'not_found')) return false
      throw err
    }
  }

  /** Fetch the sandbox's current state (and refresh `info`). */
  async getInfo(): Promise<SandboxInfo> {
    return this.#update(await this.client.getSandbox({ id: this.sandboxId }))
  }

  /** Whether the sandbox is running now (asks the server). */
  async isRunning(): Promise<boolean> {
    return (await this.getInfo()).state === 'running'
  }

  /** Set the time to live to `timeoutMs` from now (1 s – 24 h). */
  async setTimeout(timeoutMs: number): Promise<void> {
    this.#update(await this.client.patchSandbox({ id: this.sandboxId, timeoutMs }))
  }

  /** Resize live; unset fields keep their value. */
  async setResources(resources: Partial<Resources>): Promise<void> {
    this.#update(await this.client.patchSandbox({ id: this.sandboxId, resources }))
  }

  /** Replace the sandbox's metadata. */
  async setMetadata(metadata: Record<string, string>): Promise<void> {
    this.#update(await this.client.patchSandbox({ id: this.sandboxId, metadata }))
  }

  /** Freeze every process; files and memory are kept. */
  async pause(): Promise<void> {
    this.#update(await this.client.pauseSandbox({ id: this.sandboxId }))
  }

  /** Thaw a paused sandbox. */
  async resume(): Promise<void> {
    this.#update(await this.client.resumeSandbox({ id: this.sandboxId }))
  }

  /** Destroy the sandbox: every process, mount and file. Killing it twice is not an error. */
  async kill(): Promise<void> {
    await this.client.deleteSandbox({ id: this.sandboxId })
  }

  /** Snapshot the sandbox's files (`labels`, `ttlMs`); start new sandboxes from it with `Sandbox.create({ fromSnapshot })`. */
  async createSnapshot(opts: { labels?: Record<string, string>; ttlMs?: number } = {}): Promise<SnapshotInfo> {
    return this.client.createSnapshot({ id: this.sandboxId, ...opts })
  }

  /** `count` new sandboxes with exactly this one's files (processes are not carried over). */
  async fork(opts: { count?: number; metadata?: Record<string, string> } = {}): Promise<Sandbox[]> {
    const out = await this.client.forkSandbox({ id: this.sandboxId, ...opts })
    return out.items.map((info) => new Sandbox(this.client, info))
  }

  /** Put the files back to the sandbox's start (or to snapshot `to`) in place; its processes restart. */
  async reset(opts: { to?: string } = {}): Promise<void> {
    this.#update(await this.client.resetSandbox({ id: this.sandboxId, ...opts }))
  }

  /** Current resource usage (CPU seconds, memory and its peak, pids, OOM kills) from cgroup stats. */
  async getMetrics(): Promise<SandboxMetrics> {
    return this.client.getSandboxMetrics({ id: this.sandboxId })
  }

  #update(info: SandboxInfo): SandboxInfo {
    this.#info = info
    return info
  }
}

function listInput(opts: SandboxListOptions) {
  return { metadata: opts.query?.metadata, state: opts.query?.state, limit: opts.limit, nextToken: opts.nextToken }
}

/** The client to use: the given one, or one built from the options and the environment. */
/** The server URL and token a ConnectionOptions names (options first, then TIDEPOOL_URL / TIDEPOOL_TOKEN). */
export function connectionOf(opts: ConnectionOptions): { baseUrl: string; token: string } {
  const token = opts.apiKey ?? opts.token ?? readEnv('TIDEPOOL_TOKEN')
  if (!token) {
    throw new ApiError('unauthenticated', 'no API token: pass { apiKey } or set TIDEPOOL_TOKEN (`tidepool token create` makes one; the admin token is in $TIDEPOOL_HOME/admin.token)')
  }
  return { baseUrl: opts.apiUrl ?? opts.baseUrl ?? readEnv('TIDEPOOL_URL') ?? DEFAULT_API_URL, token }
}

export function clientFor(opts: ConnectionOptions): Client {
  if (opts.client) return opts.client
  return createClient({ ...connectionOf(opts), fetch: opts.fetch, headers: opts.headers, timeoutMs: opts.requestTimeoutMs, validate: opts.validate })
}

/** An environment variable where there is a `process` (Node, Bun, Deno's compat); never throws. */
function readEnv(name: string): string | undefined {
  try {
    const value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name]
    return value === '' ? undefined : value
  } catch {
    return undefined // e.g. Deno without --allow-env
  }
}
