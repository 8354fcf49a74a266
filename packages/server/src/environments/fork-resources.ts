/**
 * @module environments/fork-resources — what a fork may own besides its route: the sandbox it launched and
 * its own database clone. Made before the fork's row (undone when a later step fails: bad input leaves
 * nothing behind) and ended with it (delete, TTL, environment delete).
 */
import type { Duplex } from 'node:stream'
import type { OpInput, Principal } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/log.js'

/** What the environments area needs of the sandboxes area (main.ts implements it over SandboxService and CommandService). */
export interface ForkSandboxes {
  /** Creates a sandbox for a fork as `p`, with `envs` in its env; returns its id. */
  create(p: Principal, spec: { template: string; resources: Record<string, number | undefined>; envs: Record<string, string>; timeoutMs?: number | undefined }): Promise<string>
  /** Starts the fork's service in the background inside the sandbox. */
  start(p: Principal, id: string, cmd: string[] | string, cwd: string | undefined): Promise<void>
  /** The sandbox is the project's and live (not_found, conflict otherwise). */
  check(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<void>
  /** Adds env vars to what commands started in the sandbox from now on get. */
  addEnvs(id: string, envs: Record<string, string>): Promise<void>
  /** Destroys the sandbox (idempotent). */
  destroy(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<void>
  /** A stream to `port` inside the sandbox (the router's and the health probe's way in). */
  connect(project: string, id: string, port: number): Promise<Duplex>
}

/** What the environments area needs of the data area: clones of a mirror. */
export interface ForkData {
  createClone(p: Principal, mirror: string, sandbox: string | undefined): Promise<{ id: string; url: string }>
  /** Idempotent. */
  deleteClone(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<void>
}

export interface ForkResourceDeps {
  sandboxes?: ForkSandboxes | undefined
  data?: ForkData | undefined
  log: Logger
}

/** What one fork holds: the sandbox it runs in (owned or not) and its clone. */
export interface Held {
  sandbox?: string | undefined
  port?: number | undefined
  ownsSandbox: boolean
  clone?: { id: string; url: string } | undefined
}

/** The env var a fork's sandbox carries its routing key in. */
export const ROUTING_KEY_ENV = 'TIDEPOOL_ROUTING_KEY'

export const systemPrincipal = (project: string): Principal => ({ project, tokenId: 'system:environments', name: 'environments', scopes: ['sandboxes:write', 'data:write'] })

/** Launches, checks and binds what the fork input asks for; on a failure undoes what it made and rethrows. */
export async function acquire(deps: ForkResourceDeps, p: Principal, input: OpInput<'createFork'>, key: string): Promise<Held> {
  const held: Held = { ownsSandbox: false, ...(input.port !== undefined ? { port: input.port } : {}) }
  const sandboxes = (): ForkSandboxes => {
    if (!deps.sandboxes) throw new AppError('runtime_unavailable', 'this server runs no sandboxes for forks (sandbox, launch): fork to an upstream URL instead')
    return deps.sandboxes
  }
  try {
    if (input.launch) {
      const l = input.launch
      held.sandbox = await sandboxes().create(p, {
        template: l.template ?? 'default',
        resources: l.resources ?? {},
        envs: { ...l.envs, [ROUTING_KEY_ENV]: key },
        timeoutMs: l.timeoutMs ?? (input.ttlSeconds !== undefined ? Math.min(input.ttlSeconds * 1000, 86_400_000) : undefined),
      })
      held.ownsSandbox = true
    } else if (input.sandbox) {
      await sandboxes().check(p, input.sandbox)
      held.sandbox = input.sandbox
      // An existing sandbox: commands started from now on see the key (restart the service after forking).
      await sandboxes().addEnvs(input.sandbox, { [ROUTING_KEY_ENV]: key })
    }
    if (input.database) {
      if (!deps.data) throw new AppError('runtime_unavailable', 'this server has no data area for fork databases: drop database, or give the fork a clone you made')
      held.clone = await deps.data.createClone(p, input.database.mirror, held.sandbox)
    }
    if (input.launch && held.sandbox) await sandboxes().start(p, held.sandbox, input.launch.cmd, input.launch.cwd)
    return held
  } catch (err) {
    await release(deps, p, held)
    throw err
  }
}

/** Ends what a fork held (idempotent; failures are logged, never thrown: the route is gone either way). */
export async function release(deps: ForkResourceDeps, p: Pick<Principal, 'project' | 'tokenId'>, held: Held): Promise<void> {
  if (held.clone && deps.data) await deps.data.deleteClone(p, held.clone.id).catch((err: unknown) => deps.log.error({ err, clone: held.clone!.id }, 'environments: deleting a fork clone failed'))
  if (held.ownsSandbox && held.sandbox && deps.sandboxes)
    await deps.sandboxes.destroy(p, held.sandbox).catch((err: unknown) => deps.log.error({ err, sandbox: held.sandbox }, "environments: destroying a fork's sandbox failed"))
}
