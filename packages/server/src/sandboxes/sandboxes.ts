/** @module sandboxes/sandboxes — sandbox lifecycle: create, list, get, patch, pause/resume, destroy (expiry, reconcile and state changes in their own files). */
import { cpus } from 'node:os'
import type { Principal, SandboxInfo as Sandbox, SandboxMetrics, SandboxState } from '@tidepool/sdk'
import { iso } from '../core/clock.js'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { ExecHandle, ExecRequest, ResourceLimits, RuntimeRef } from '../runtime/runtime.js'
import type { SandboxRow } from '../store/schema.js'
import { filteredPageOf, hasAll } from '../kit/page.js'
import { pruneStopped, reapExpired } from './expiry.js'
import { reconcileSandboxes, type ReconcileResult } from './reconcile.js'
import { SandboxStates, type SandboxDeps } from './sandbox-states.js'
import { checkQuota, storedMb, type Usage } from './quotas.js'
import { execViewOf, live, liveOf, refOf, toSandbox, type LiveSandbox } from './sandbox-row.js'
import type { TemplateResolver, TemplateUsage } from '../kit/template-seam.js'
import type { NetworkSeam } from '../kit/network-seam.js'
import { snapshotLockKey, SnapshotService } from './snapshots.js'
import { execEnv, resolveStart, startTemplateCommand } from './template-start.js'
import { builtInTemplates } from './templates.js'
import { recordFinalUsage, sandboxFigures, type SandboxFigures } from './usage-figures.js'
import { SandboxPools } from './pool-claims.js'
import { installTrust, trustEnv } from '../kit/egress-trust.js'

export interface CreateSandbox {
  template: string
  fromSnapshot?: string | undefined
  timeoutMs: number
  lifecycle: { onTimeout: 'kill' | 'pause'; autoResume: boolean }
  resources: Partial<ResourceLimits>
  network?: { allowedDomains: string[]; deniedDomains: string[] } | undefined
  filesystem?: { denyRead: string[] } | undefined
  envs: Record<string, string>
  metadata: Record<string, string>
  /** Absent: runtime.defaultIsolation. */
  isolation?: 'namespaces' | 'gvisor' | undefined
}

export type { LiveSandbox } from './sandbox-row.js'

/** A one-shot run's command as createRunning starts it: its request, given the new sandbox as exec sees it. */
export type OneShotRequest = (sbx: Omit<LiveSandbox, 'ref'>) => ExecRequest

/** What createRunning made: the sandbox, and the command's handle when the runtime started it along (runOnce). */
export interface Created {
  sandbox: Sandbox
  live: LiveSandbox
  /** Absent: the sandbox runs (claimed from a pool, or the runtime has no one-shot path); exec the command. */
  handle?: ExecHandle
}

export class SandboxService implements TemplateUsage {
  readonly #hostCpus = cpus().length
  readonly states: SandboxStates

  readonly snapshots: SnapshotService
  readonly #templates: TemplateResolver
  /** Warm pools (config warmPools): main.ts configures them after reconcile and closes them on stop. */
  readonly pools: SandboxPools

  /** `templates` defaults to the built-in ones (main.ts passes the templates area's resolver). */
  constructor(readonly deps: SandboxDeps & { templates?: TemplateResolver; network?: NetworkSeam }) {
    this.states = new SandboxStates(deps)
    this.snapshots = new SnapshotService(deps, this.states)
    this.#templates = deps.templates ?? builtInTemplates
    this.pools = new SandboxPools({ runtime: deps.runtime, log: deps.log, templates: this.#templates, pools: deps.config.warmPools, defaults: deps.config.defaults })
  }

  /** TemplateUsage for the templates area: live sandboxes started from a template of the project. */
  async liveSandboxesUsing(project: string, templateName: string): Promise<number> {
    const r = await this.deps.db
      .selectFrom('sandboxes')
      .select((e) => e.fn.countAll().as('n'))
      .where('project', '=', project)
      .where('template', '=', templateName)
      .where('state', 'in', live)
      .executeTakeFirstOrThrow()
    return Number(r.n)
  }

  /** `deferRefill`: the caller refills a claimed-from pool itself (a one-shot run, once its command is done). */
  async create(p: Principal, input: CreateSandbox, opts: { deferRefill?: boolean } = {}): Promise<Sandbox> {
    return (await this.#create(p, input, opts)).sandbox
  }

  /**
   * create for a one-shot run: a warm pool's sandbox when one fits (the caller then execs), else, where
   * the runtime has it and nothing must run before the command (no template start command, no egress
   * link), the sandbox starts with `request`'s command as its only process (Runtime.runOnce), which is
   * never watched for loss: it ends with its command, and the caller destroys it. Same row, quota and
   * events as create.
   */
  createRunning(p: Principal, input: CreateSandbox, request: OneShotRequest): Promise<Created> {
    return this.#create(p, input, { deferRefill: true }, request)
  }

  async #create(p: Principal, input: CreateSandbox, opts: { deferRefill?: boolean }, request?: OneShotRequest): Promise<Created> {
    const { config, db, runtime, clock } = this.deps
    // Refused unless the network area is wired (kit/network-seam.ts): nothing else would enforce the lists.
    if (!this.deps.network && input.network && input.network.allowedDomains.length > 0) {
      throw new AppError('invalid_request', 'network.allowedDomains: egress is not available yet — sandboxes have loopback only; remove network.allowedDomains', [
        { path: 'network.allowedDomains', message: 'egress not available yet' },
      ])
    }
    // Accepted by the contract for the egress proxy to come; until then a denylist would be silently ignored.
    if (!this.deps.network && input.network && input.network.deniedDomains.length > 0) {
      throw new AppError('invalid_request', 'network.deniedDomains: egress is not available yet — sandboxes have loopback only, so nothing is reachable to deny; remove network.deniedDomains', [
        { path: 'network.deniedDomains', message: 'egress not available yet' },
      ])
    }
    const isolation = input.isolation ?? config.runtime.defaultIsolation
    // A gvisor sandbox has loopback only (runsc --network=none): an egress list would be silently unenforced.
    if (isolation === 'gvisor' && input.network && input.network.allowedDomains.length + input.network.deniedDomains.length > 0) {
      throw new AppError('invalid_request', 'network: a sandbox with isolation "gvisor" has loopback only, so egress lists cannot apply; remove network, or use isolation "namespaces"', [
        { path: 'network', message: 'not available with isolation gvisor' },
      ])
    }
    const { resolved, fromSnapshot } = await resolveStart(this.snapshots, this.#templates, p, input)
    const resources: ResourceLimits = { ...config.defaults, ...resolved.resources, ...input.resources }
    this.#checkCpu(resources.cpu)
    // A user's snapshot holds the template's files too (its sandbox started from them); else the template's last layer.
    const from = fromSnapshot ?? resolved.fromSnapshot
    // With the egress proxy wired and a runtime that links sandboxes to the host, every sandbox gets its
    // link (default deny: without allowedDomains the proxy refuses everything) and the proxy variables.
    const egress = isolation === 'namespaces' && this.deps.network !== undefined && runtime.network !== undefined
    // With TLS termination configured, the sandbox trusts tidepool's CA (kit/egress-trust.ts).
    const caPem = egress ? this.deps.network!.caCertificatePem() : undefined
    const spec = {
      template: resolved.spec,
      resources,
      denyRead: input.filesystem?.denyRead ?? [],
      ...(from ? { fromSnapshot: from } : {}),
      ...(egress ? { network: { egress: true } } : {}),
      isolation,
    }
    // A warm pool's sandbox started with exactly this spec, nothing ever ran in it: it becomes this sandbox.
    const claimed = this.pools.claim(p.project, resolved.ref.name, spec)
    const id = claimed?.id ?? newId('sbx', 16)
    const now = clock.now()
    const row: SandboxRow = {
      id,
      project: p.project,
      state: 'starting',
      reason: 'creating',
      template: resolved.ref.name,
      created_at: iso(now),
      updated_at: iso(now),
      expires_at: iso(now + input.timeoutMs),
      timeout_ms: input.timeoutMs,
      lifecycle: JSON.stringify(input.lifecycle),
      resources: JSON.stringify(resources),
      // The template's env below the create's own.
      envs: JSON.stringify({ ...(egress ? this.deps.network!.proxyEnv() : {}), ...(caPem ? trustEnv() : {}), ...resolved.env, ...input.envs }),
      metadata: JSON.stringify(input.metadata),
      deny_read: JSON.stringify(input.filesystem?.denyRead ?? []),
      runtime_ref: null,
      owner: p.tokenId,
      parent_snapshot: fromSnapshot ?? null,
      template_ref: JSON.stringify(resolved),
    }
    // Quota check and the insert that reserves capacity happen under one per-project lock: no overshoot.
    // The snapshot lock orders the insert against a delete of the snapshot it starts from.
    const reserve = () =>
      this.states.lock.run(`project:${p.project}`, async () => {
        if (fromSnapshot) await this.snapshots.row(p, fromSnapshot) // still there (a delete may have won the lock)
        const used = await this.usage(p.project)
        checkQuota(config, p.project, used, { sandboxes: 1, memoryMb: resources.memoryMb, cpu: resources.cpu, pids: resources.pids, diskMb: resources.diskMb }, await this.#soonestExpiryS(p.project))
        await db.insertInto('sandboxes').values(row).execute()
      })
    try {
      await (fromSnapshot ? this.states.lock.run(snapshotLockKey(fromSnapshot), reserve) : reserve())
    } catch (err) {
      if (claimed) await runtime.destroy(claimed.id, claimed).catch((e: unknown) => this.deps.log.warn({ err: e, id }, 'warm pool: could not destroy a claimed sandbox after a refused create'))
      throw err
    }
    let ref: RuntimeRef
    let handle: ExecHandle | undefined
    const oneShot = request && !claimed && isolation === 'namespaces' && runtime.runOnce && !caPem && !resolved.start && !egress ? request : undefined
    try {
      if (oneShot) {
        const started = await runtime.runOnce!({ id, ...spec }, oneShot(execViewOf(row)))
        ;({ ref, handle } = started)
      } else ref = claimed ?? (await runtime.start({ id, ...spec }))
      if (caPem) await installTrust(runtime, ref, caPem)
      if (resolved.start) await startTemplateCommand(runtime, ref, resolved, { ...execEnv(id, resolved.user ?? 'user'), ...resolved.env, ...input.envs })
    } catch (err) {
      // Nothing half-made: the runtime cleans its part, we drop the reservation.
      await runtime.destroy(id).catch((e: unknown) => this.deps.log.warn({ err: e, id }, 'cleanup after failed start'))
      await db.deleteFrom('sandboxes').where('id', '=', id).execute()
      throw err
    }
    await this.states.transition(row, 'running', 'created', p.tokenId, { runtime_ref: JSON.stringify(ref) })
    if (!handle) this.states.watch(row, ref) // a one-shot sandbox ends with its command: no loss to watch for
    // The proxy now knows the sandbox by its link's address (none without a link: only the policy is recorded).
    await this.deps.network?.attach(
      { id, projectId: p.project, template: resolved.ref.name, templatePolicy: resolved.network },
      egress ? runtime.networkOf?.(ref)?.sandboxIp : undefined,
      input.network,
    )
    const stored = await this.row(p, id)
    if (claimed && !opts.deferRefill) this.pools.refill()
    return { sandbox: toSandbox(stored), live: liveOf(stored), ...(handle ? { handle } : {}) }
  }

  async get(p: Pick<Principal, 'project'>, id: string): Promise<Sandbox> {
    return toSandbox(await this.row(p, id))
  }

  async row(p: Pick<Principal, 'project'>, id: string): Promise<SandboxRow> {
    const row = await this.deps.db.selectFrom('sandboxes').selectAll().where('id', '=', id).where('project', '=', p.project).executeTakeFirst()
    // A foreign sandbox is indistinguishable from a missing one.
    if (!row) throw notFound('sandbox', id)
    return row
  }

  async list(p: Principal, q: { state?: SandboxState | undefined; metadata?: Record<string, string> | undefined; limit: number; nextToken?: string | undefined }) {
    const filters = Object.entries(q.metadata ?? {})
    // Metadata is a JSON column: filtered in code over keyset pages.
    return filteredPageOf({
      nextToken: q.nextToken,
      limit: q.limit,
      fetch: (after, n) => {
        let query = this.deps.db.selectFrom('sandboxes').selectAll().where('project', '=', p.project).orderBy('id').limit(n)
        query = q.state ? query.where('state', '=', q.state) : query.where('state', 'in', live)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      keep: (row) => hasAll(row.metadata, filters),
      view: toSandbox,
    })
  }

  async patch(p: Principal, id: string, input: { timeoutMs?: number | undefined; metadata?: Record<string, string> | undefined; resources?: Partial<ResourceLimits> | undefined }): Promise<Sandbox> {
    return this.states.lock.run(id, async () => {
      const row = await this.row(p, id)
      this.states.mustBeLive(row, 'patch')
      const set: Partial<SandboxRow> = {}
      if (input.timeoutMs !== undefined) {
        set.timeout_ms = input.timeoutMs
        set.expires_at = iso(this.deps.clock.now() + input.timeoutMs)
      }
      if (input.metadata) set.metadata = JSON.stringify(input.metadata)
      if (input.resources) {
        const current = JSON.parse(row.resources) as ResourceLimits
        const next = { ...current, ...input.resources }
        this.#checkCpu(next.cpu)
        await this.states.lock.run(`project:${p.project}`, async () => {
          const used = await this.usage(p.project)
          checkQuota(
            this.deps.config,
            p.project,
            used,
            { sandboxes: 0, memoryMb: next.memoryMb - current.memoryMb, cpu: next.cpu - current.cpu, pids: next.pids - current.pids, diskMb: (next.diskMb ?? 0) - (current.diskMb ?? 0) },
            await this.#soonestExpiryS(p.project),
          )
          await this.deps.runtime.resize(refOf(row), next)
          set.resources = JSON.stringify(next)
        })
        await this.deps.events.emit({ project: row.project, sandboxId: id, kind: 'resized', actor: p.tokenId, data: { from: current, to: next } })
      }
      set.updated_at = iso(this.deps.clock.now())
      await this.deps.db.updateTable('sandboxes').set(set).where('id', '=', id).execute()
      return this.get(p, id)
    })
  }

  /** Idempotent: destroying a stopped sandbox succeeds and changes nothing. */
  async destroy(p: Pick<Principal, 'project'> & { tokenId: string }, id: string, reason = 'killed'): Promise<void> {
    await this.states.lock.run(id, async () => {
      const row = await this.row(p, id)
      if (row.state === 'stopped') return
      if (row.runtime_ref) await recordFinalUsage(this.deps, row)
      await this.deps.runtime.destroy(id, row.runtime_ref ? refOf(row) : undefined)
      await this.states.transition(row, 'stopped', reason, p.tokenId)
    })
  }

  async pause(p: Principal, id: string, reason = 'paused'): Promise<Sandbox> {
    await this.states.lock.run(id, async () => {
      const row = await this.row(p, id)
      this.states.mustBeLive(row, 'pause')
      if (row.state === 'paused') return
      await this.deps.runtime.pause(refOf(row))
      await this.states.transition(row, 'paused', reason, p.tokenId)
    })
    return this.get(p, id)
  }

  async resume(p: Pick<Principal, 'project' | 'tokenId'>, id: string, reason = 'resumed'): Promise<Sandbox> {
    await this.states.lock.run(id, async () => {
      const row = await this.row(p, id)
      this.states.mustBeLive(row, 'resume')
      if (row.state === 'running') return
      await this.deps.runtime.resume(refOf(row))
      // A resumed sandbox gets a fresh TTL, so an auto-resume never lands on an already-expired clock.
      await this.states.transition(row, 'running', reason, p.tokenId, { expires_at: iso(this.deps.clock.now() + Number(row.timeout_ms)) })
    })
    return this.get(p, id)
  }

  /** For exec and files: the sandbox must be running; a paused one resumes when its lifecycle says autoResume. */
  async live(p: Pick<Principal, 'project' | 'tokenId'>, id: string): Promise<LiveSandbox> {
    let row = await this.row(p, id)
    if (row.state === 'paused') {
      const lifecycle = JSON.parse(row.lifecycle) as { autoResume: boolean }
      if (!lifecycle.autoResume) {
        throw new AppError('conflict', `sandbox ${id} is paused; resume it first (POST /v1/sandboxes/${id}/resume) or create it with lifecycle.autoResume`)
      }
      await this.resume(p, id, 'auto_resumed')
      row = await this.row(p, id)
    }
    if (row.state !== 'running') {
      if (row.reason === 'lost') throw await this.states.lostError(row)
      throw new AppError('conflict', `sandbox ${id} is ${row.state} (${row.reason}); create a new one`)
    }
    return liveOf(row)
  }

  /**
   * A runtime call failed on a sandbox the store thinks is live: when the runtime says it is gone, it is
   * marked lost now (the watcher may not have told us yet) and the caller gets that, not a generic error.
   */
  async explainLost(p: Pick<Principal, 'project'>, id: string, err: unknown): Promise<unknown> {
    const code = (err as { code?: string } | undefined)?.code
    if (code !== 'not_found' && code !== 'conflict' && code !== 'internal') return err
    const row = await this.row(p, id).catch(() => undefined)
    if (!row || !row.runtime_ref || (row.state !== 'running' && row.state !== 'paused')) return err
    if ((await this.deps.runtime.inspect(refOf(row)).catch(() => 'gone')) !== 'gone') return err
    await this.states.markLost(id, 'its init or supervisor exited')
    const now = await this.row(p, id)
    return now.reason === 'lost' ? await this.states.lostError(now) : err
  }

  async metrics(p: Principal, id: string): Promise<SandboxMetrics> {
    const row = await this.row(p, id)
    if (row.reason === 'lost') throw await this.states.lostError(row)
    this.states.mustBeLive(row, 'read metrics of')
    const s = await this.deps.runtime.stats(refOf(row)).catch(async (err: unknown) => {
      throw await this.explainLost(p, id, err)
    })
    return { at: iso(this.deps.clock.now()), ...s }
  }

  /** Its cgroup figures now, or as it ended (the feedback loop joins them to the CI run that used it). */
  figures(project: string, id: string): Promise<SandboxFigures | undefined> {
    return sandboxFigures(this.deps, project, id)
  }

  async usage(project: string): Promise<Usage> {
    const rows = await this.deps.db.selectFrom('sandboxes').select(['resources']).where('project', '=', project).where('state', 'in', live).execute()
    const used: Usage = { sandboxes: rows.length, memoryMb: 0, cpu: 0, pids: 0, diskMb: 0 }
    for (const r of rows) {
      const res = JSON.parse(r.resources) as ResourceLimits
      used.memoryMb += res.memoryMb
      used.cpu += res.cpu
      used.pids += res.pids
      used.diskMb += res.diskMb ?? 0
    }
    used.diskMb += await storedMb(this.deps.db, project)
    return used
  }

  /** The reaper: acts on every expired sandbox (kill or pause per lifecycle). Safe to call any time, also right after a restart. */
  async reapExpired(): Promise<number> {
    const acted = await reapExpired(this.deps, this.states, this)
    // Snapshot retention rides along (TTL, unused fork points); it reports its own deletes in the audit log.
    if (this.deps.runtime.snapshots) await this.snapshots.reapExpired().catch((err: unknown) => this.deps.log.error({ err }, 'snapshot retention failed; will retry'))
    return acted
  }

  /** Retention: deletes sandboxes stopped longer than `retention.stoppedSandboxesHours`, a batch at a time. */
  pruneStopped(batch = 500): Promise<number> {
    return pruneStopped(this.deps, batch)
  }

  /** After a start (or a crash): adopt, mark lost, finish interrupted creates, destroy runtime leftovers. */
  async reconcile(onAdopted?: (sbx: LiveSandbox) => Promise<unknown>): Promise<ReconcileResult> {
    const result = await reconcileSandboxes(this.deps, this.states, onAdopted)
    const snaps = await this.snapshots.reconcile()
    if (snaps.completed + snaps.dropped + snaps.orphans > 0) this.deps.log.info(snaps, 'reconciled snapshots with the runtime')
    return result
  }

  /** Changes the envs every later command of a sandbox gets (a bound clone's DATABASE_URL and PG* variables). */
  async changeEnvs(id: string, change: (envs: Record<string, string>) => Record<string, string>): Promise<void> {
    const { db, clock } = this.deps
    const row = await db.selectFrom('sandboxes').select('envs').where('id', '=', id).executeTakeFirstOrThrow()
    const envs = change(JSON.parse(row.envs) as Record<string, string>)
    await db
      .updateTable('sandboxes')
      .set({ envs: JSON.stringify(envs), updated_at: iso(clock.now()) })
      .where('id', '=', id)
      .execute()
  }

  /** A sandbox gets at most the host's cores, at create and at resize alike. */
  #checkCpu(cpu: number): void {
    if (cpu <= this.#hostCpus) return
    throw new AppError('invalid_request', `resources.cpu must be at most ${this.#hostCpus} (the host's cores) (got ${cpu})`, [{ path: 'resources.cpu', message: `at most ${this.#hostCpus}` }])
  }

  async #soonestExpiryS(project: string): Promise<number> {
    const row = await this.deps.db.selectFrom('sandboxes').select('expires_at').where('project', '=', project).where('state', 'in', live).orderBy('expires_at').limit(1).executeTakeFirst()
    return row ? (Date.parse(row.expires_at) - this.deps.clock.now()) / 1000 : 1
  }
}
