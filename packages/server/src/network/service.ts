/**
 * @module network/service — the network area: per-sandbox egress policy (stored, combined with the
 * project level from config and the template level the sandboxes area passes in), the egress proxy's
 * lifecycle, its events, stubs' calls and brokered secrets.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { NetworkEvent, SandboxNetwork } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import type { Logger } from '../core/log.js'
import type { Page } from '../kit/page.js'
import type { DomainPolicyInput, NetworkSeam } from '../kit/network-seam.js'
import type { Db } from '../store/db.js'
import type { NetworkConfig } from './config.js'
import type { EgressEvent } from './egress-types.js'
import { TidepoolCa } from './ca.js'
import { EgressProxy } from './egress-proxy.js'
import { NetworkEventStore } from './event-store.js'
import { effectivePolicy, type DomainPolicy, type EffectivePolicy } from './policy.js'
import { loadOrCreateKey, SecretStore } from './secrets.js'
import { networkDb, parseStored, type NetworkDb, type NetworkPolicyRow } from './tables.js'

const PUBLISH_PER_MINUTE = 60

export interface NetworkServiceDeps {
  db: Db
  config: NetworkConfig
  /** The data directory: the secrets key lives in <home>/network/. */
  home: string
  clock: Clock
  log: Logger
  /** The sandbox event stream (kit EventLog.emit), for the attempts config `network.events.publish` names. */
  publish?: (e: EgressEvent) => void
}

export class NetworkService {
  readonly #db: NetworkDb
  readonly events: NetworkEventStore
  readonly secrets: SecretStore
  #proxy: EgressProxy | undefined
  readonly #published = new Map<string, { start: number; n: number }>()

  constructor(private readonly d: NetworkServiceDeps) {
    this.#db = networkDb(d.db)
    this.events = new NetworkEventStore({ db: this.#db, log: d.log, retain: d.config.events.retain })
    this.secrets = new SecretStore({ db: this.#db, key: loadOrCreateKey(join(d.home, 'network', 'secrets.key')), clock: d.clock })
  }

  /** The running proxy, if any. */
  get proxy(): EgressProxy | undefined {
    return this.#proxy
  }

  /** Starts the proxy (when config network.proxy.enabled, or `force`) and serves every sandbox attached before a restart. */
  async start(opts: { force?: boolean; host?: string } = {}): Promise<void> {
    const c = this.d.config
    if (this.#proxy || (!c.proxy.enabled && !opts.force)) return
    // The CA exists only where a rule needs it: a sandbox need not trust anything else.
    const ca = c.credentials.some((r) => r.terminateTls) ? await TidepoolCa.loadOrCreate(join(this.d.home, 'network', 'ca')) : undefined
    this.#proxy = await EgressProxy.start({
      ca,
      upstreamCa: c.upstreamCaFiles.map((f) => readFileSync(f, 'utf8')),
      host: opts.host ?? c.proxy.host,
      httpPort: c.proxy.httpPort,
      socksPort: c.proxy.socksPort,
      resolver: { hosts: c.hosts, servers: c.resolvers },
      stubs: c.stubs,
      credentials: c.credentials,
      connectTimeoutMs: c.proxy.connectTimeoutMs,
      secretValue: (project, name) => this.secrets.value(project, name),
      onEvent: (e) => this.#onEvent(e),
      now: () => this.d.clock.now(),
      log: this.d.log.child({ part: 'egress-proxy' }),
    })
    for (const row of await this.#db.selectFrom('network_policies').selectAll().where('source_ip', 'is not', null).limit(100_000).execute()) {
      this.#proxy.attach({ id: row.sandbox_id, projectId: row.project, template: row.template ?? undefined }, row.source_ip!, this.#effective(row))
    }
    this.d.log.info({ host: this.#proxy.host, httpPort: this.#proxy.httpPort, socksPort: this.#proxy.socksPort }, 'egress proxy listening')
  }

  #onEvent(e: EgressEvent): void {
    this.events.record(e)
    const p = this.d.config.events.publish
    if (this.d.publish && (p === 'all' || (p === 'refused' && e.verdict !== 'allowed')) && this.#mayPublish(e.sandboxId)) this.d.publish(e)
  }

  /**
   * At most PUBLISH_PER_MINUTE events per sandbox reach the sandbox event stream (one statement each):
   * a sandbox looping on a denied host must not flood it. The egress events table has them all.
   */
  #mayPublish(sandboxId: string): boolean {
    const now = this.d.clock.now()
    let w = this.#published.get(sandboxId)
    if (!w || now - w.start >= 60_000) {
      if (!w && this.#published.size >= 10_000) this.#published.clear()
      w = { start: now, n: 0 }
      this.#published.set(sandboxId, w)
    }
    return ++w.n <= PUBLISH_PER_MINUTE
  }

  /** The project level: config `network.projects.<id>`, else the top-level lists. */
  projectPolicy(project: string): DomainPolicy {
    const c = this.d.config
    return Object.hasOwn(c.projects, project) ? c.projects[project]! : { allowedDomains: c.allowedDomains, deniedDomains: c.deniedDomains }
  }

  #effective(row: NetworkPolicyRow): EffectivePolicy {
    return effectivePolicy({
      project: this.projectPolicy(row.project),
      template: row.template_policy ? parseStored<DomainPolicy>(row.template_policy) : undefined,
      sandbox: { allowedDomains: parseStored<string[]>(row.allowed), deniedDomains: parseStored<string[]>(row.denied) },
    })
  }

  async attach(
    sandbox: { id: string; projectId: string; template?: string | undefined; templatePolicy?: DomainPolicyInput | undefined },
    sourceIp: string | undefined,
    policy?: DomainPolicyInput,
  ): Promise<void> {
    const row: NetworkPolicyRow = {
      sandbox_id: sandbox.id,
      project: sandbox.projectId,
      template: sandbox.template ?? null,
      template_policy: sandbox.templatePolicy ? JSON.stringify({ allowedDomains: sandbox.templatePolicy.allowedDomains, deniedDomains: sandbox.templatePolicy.deniedDomains }) : null,
      allowed: JSON.stringify(policy?.allowedDomains ?? []),
      denied: JSON.stringify(policy?.deniedDomains ?? []),
      source_ip: sourceIp ?? null,
      updated_at: iso(this.d.clock.now()),
    }
    const { sandbox_id: _id, ...rest } = row
    await this.#db
      .insertInto('network_policies')
      .values(row)
      .onConflict((oc) => oc.column('sandbox_id').doUpdateSet(rest))
      .execute()
    if (sourceIp !== undefined) this.#proxy?.attach({ id: sandbox.id, projectId: sandbox.projectId, template: sandbox.template }, sourceIp, this.#effective(row))
  }

  async detach(sandboxId: string): Promise<void> {
    this.#proxy?.detach(sandboxId)
    this.#published.delete(sandboxId)
    await this.#db.deleteFrom('network_policies').where('sandbox_id', '=', sandboxId).execute()
  }

  /**
   * Drops the attachments of sandboxes whose ids start with `prefix` (build sandboxes a crash left: the
   * templates area destroys them on start, before the proxy serves what was attached). Returns how many.
   */
  async forgetPrefix(prefix: string): Promise<number> {
    const rows = await this.#db.selectFrom('network_policies').select('sandbox_id').where('sandbox_id', '>=', prefix).orderBy('sandbox_id').limit(10_000).execute()
    const ids = rows.map((r) => r.sandbox_id).filter((id) => id.startsWith(prefix))
    for (const id of ids) await this.detach(id)
    return ids.length
  }

  async #row(project: string, id: string): Promise<NetworkPolicyRow> {
    const row = await this.#db.selectFrom('network_policies').selectAll().where('sandbox_id', '=', id).where('project', '=', project).executeTakeFirst()
    if (!row)
      throw new AppError('not_found', `sandbox ${id} has no egress attachment (not found, or it runs without network); create it with network: { allowedDomains } on a server with the egress proxy`)
    return row
  }

  #view(row: NetworkPolicyRow): SandboxNetwork {
    const eff = this.#effective(row)
    return {
      sandboxId: row.sandbox_id,
      policy: { allowedDomains: parseStored<string[]>(row.allowed), deniedDomains: parseStored<string[]>(row.denied) },
      effective: { allow: eff.allow.map((a) => ({ level: a.level, patterns: [...a.patterns] })), deny: eff.deny.map((a) => ({ level: a.level, patterns: [...a.patterns] })) },
      attached: this.#proxy?.attachment(row.sandbox_id) !== undefined,
      updatedAt: row.updated_at,
    }
  }

  async get(project: string, id: string): Promise<SandboxNetwork> {
    return this.#view(await this.#row(project, id))
  }

  /** Replaces the sandbox level's lists that are given; the proxy applies the new policy to new connections. */
  async patch(project: string, id: string, p: { allowedDomains?: readonly string[] | undefined; deniedDomains?: readonly string[] | undefined }): Promise<SandboxNetwork> {
    const row = await this.#row(project, id)
    const next: NetworkPolicyRow = {
      ...row,
      allowed: p.allowedDomains ? JSON.stringify(p.allowedDomains) : row.allowed,
      denied: p.deniedDomains ? JSON.stringify(p.deniedDomains) : row.denied,
      updated_at: iso(this.d.clock.now()),
    }
    await this.#db.updateTable('network_policies').set({ allowed: next.allowed, denied: next.denied, updated_at: next.updated_at }).where('sandbox_id', '=', id).execute()
    this.#proxy?.setPolicy(id, this.#effective(next))
    return this.#view(next)
  }

  listEvents(
    project: string,
    q: { sandboxId?: string | undefined; verdict?: string | undefined; host?: string | undefined; limit: number; nextToken?: string | undefined },
  ): Promise<Page<NetworkEvent>> {
    return this.events.list({ project, ...q, order: 'newest' })
  }

  listStubCalls(project: string, q: { name: string; sandboxId?: string | undefined; limit: number; nextToken?: string | undefined }): Promise<Page<NetworkEvent>> {
    if (!this.d.config.stubs.some((s) => s.name === q.name)) throw new AppError('not_found', `stub ${q.name} not found; stubs are config network.stubs[].name`)
    return this.events.list({ project, stub: q.name, verdict: 'stubbed', sandboxId: q.sandboxId, limit: q.limit, nextToken: q.nextToken, order: 'oldest' })
  }

  stats() {
    const c = this.#proxy?.counters() ?? { allowed: 0, denied: 0, stubbed: 0, error: 0, refusedConnections: 0, bytesUp: 0, bytesDown: 0 }
    return { ...c, attached: this.#proxy?.attachedCount() ?? 0 }
  }

  /** What other areas call (kit/network-seam.ts). */
  seam(): NetworkSeam {
    return {
      attach: (sandbox, sourceIp, policy) => this.attach(sandbox, sourceIp, policy),
      detach: (id) => this.detach(id),
      proxyEnv: () => this.#proxy?.proxyEnv() ?? {},
      caCertificatePem: () => this.#proxy?.caCertificatePem(),
    }
  }

  async close(): Promise<void> {
    await this.#proxy?.close()
    this.#proxy = undefined
    await this.events.flush()
  }
}
