/**
 * @module sandboxes/run — one-shot runs (POST /v1/run): a sandbox for one command, then nothing left.
 *
 * The sandbox is an ordinary one (create: a warm pool's when one serves the template and the run asks
 * for no other limits; quota, events), so the command gets the same isolation, limits and audit as an
 * exec. Without a pool's sandbox it takes the runtime's shortest path where there is one
 * (Runtime.runOnce: the command starts with the sandbox, as its only process, with no exec connection
 * to make), else create + exec. Its destroy starts as soon as the result exists and is not awaited by the caller: the sandbox
 * stays counted against the quota until it is gone, and its TTL (the command's timeout plus a margin)
 * reaps it should this process die first.
 */
import type { OneShotResult, Principal, StreamLine } from '@tidepool/sdk'
import type { Logger } from '../core/log.js'
import type { ResourceLimits } from '../runtime/runtime.js'
import type { CommandService, ExecOptions } from './commands.js'
import type { Created, SandboxService } from './sandboxes.js'

/** The validated input of a run (contract OneShotInput). */
export interface OneShotOptions {
  cmd: string[] | string
  cwd?: string | undefined
  envs?: Record<string, string> | undefined
  user?: 'user' | 'root' | undefined
  stdin?: string | undefined
  timeoutMs: number
  template: string
  resources: Partial<ResourceLimits>
  filesystem?: { denyRead: string[] } | undefined
}

/** What outlives the command: time for its teardown before the reaper would take the sandbox. */
const ttlMarginMs = 60_000

/** A streamed run's lines: output chunks, then the result (with the sandbox id, without the output). */
export type OneShotLine = Extract<StreamLine, { stream: string }> | Omit<OneShotResult, 'stdout' | 'stderr'>

export class RunService {
  readonly #pending = new Set<Promise<void>>()

  constructor(private readonly d: { sandboxes: SandboxService; commands: CommandService; log: Logger }) {}

  /** Buffered: the command's capped output and exit, as exec returns them, plus the sandbox id. */
  async run(p: Principal, o: OneShotOptions): Promise<OneShotResult> {
    const c = await this.#create(p, o)
    const id = c.sandbox.id
    try {
      const run = c.handle ? this.d.commands.runStarted(p, c.live, c.handle, execOf(o)) : this.d.commands.run(p, id, execOf(o))
      const { snapshotId: _s, snapshotError: _e, ...result } = await run
      return { ...result, sandboxId: id }
    } finally {
      this.#destroyLater(p, id)
    }
  }

  /** Streamed (NDJSON): output as it comes, then the result line; the client going away ends the command. */
  async *stream(p: Principal, o: OneShotOptions, signal?: AbortSignal): AsyncGenerator<OneShotLine> {
    const c = await this.#create(p, o)
    const id = c.sandbox.id
    try {
      const lines = c.handle ? this.d.commands.streamStarted(p, c.live, c.handle, execOf(o), signal) : this.d.commands.stream(p, id, execOf(o), signal)
      for await (const line of lines) {
        if ('stream' in line) yield line
        else if ('exitCode' in line) {
          const { snapshotId: _s, snapshotError: _e, ...end } = line
          yield { ...end, sandboxId: id }
        }
      }
    } finally {
      this.#destroyLater(p, id)
    }
  }

  /** Resolves once every destroy started so far is done (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all(this.#pending)
  }

  #create(p: Principal, o: OneShotOptions): Promise<Created> {
    return this.d.sandboxes.createRunning(
      p,
      {
        template: o.template,
        timeoutMs: o.timeoutMs + ttlMarginMs,
        lifecycle: { onTimeout: 'kill', autoResume: false },
        resources: o.resources,
        filesystem: o.filesystem,
        envs: {},
        metadata: {},
      },
      (sbx) => this.d.commands.request(sbx, execOf(o)),
    )
  }

  #destroyLater(p: Principal, id: string): void {
    // A pool this run claimed from refills now, not while its command ran (the start would compete with it).
    this.d.sandboxes.pools.refill()
    const done = this.d.sandboxes
      .destroy(p, id, 'run_finished')
      .catch((err: unknown) => this.d.log.warn({ err, id }, 'run: destroying the sandbox of a finished run failed; its TTL will reap it'))
      .finally(() => this.#pending.delete(done))
    this.#pending.add(done)
  }
}

function execOf(o: OneShotOptions): ExecOptions {
  return { cmd: o.cmd, cwd: o.cwd, envs: o.envs, user: o.user, stdin: o.stdin, timeoutMs: o.timeoutMs }
}
