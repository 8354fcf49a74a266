/** @module gate/targets — registered targets (production credentials kept here, never returned) and their promotion locks. */
import type { GateTarget, Principal } from '@tidepool/sdk'
import pg from 'pg'
import { AppError, notFound } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { AuditLog } from '../audit/audit-log.js'
import type { Clock } from '../core/clock.js'
import { keysetPageOf } from '../kit/page.js'
import type { GateData } from './seams.js'
import type { GateDb, GateLockRow, GateTargetRow } from './tables.js'
import type { TargetSettings } from './run-artifact.js'

/** The URL with its password replaced by *** (the only form a URL leaves the gate in). */
export function hidePassword(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return 'postgresql://***'
  }
}

export interface TargetsDeps {
  db: GateDb
  clock: Clock
  data: GateData
  audit: Pick<AuditLog, 'append'>
}

export class Targets {
  readonly #d: TargetsDeps
  constructor(d: TargetsDeps) {
    this.#d = d
  }

  #now = () => new Date(this.#d.clock.now()).toISOString()

  async create(p: Principal, i: { name: string; kind: 'postgres'; url: string; mirror: string; settings: TargetSettings }): Promise<GateTarget> {
    const mirror = await this.#d.data.mirror(p, i.mirror)
    // The target must answer with the credentials given: a typo is found now, not at the first promotion.
    const client = new pg.Client({ connectionString: i.url, connectionTimeoutMillis: 10_000 })
    try {
      await client.connect()
      await client.query('SELECT 1')
    } catch (err) {
      throw new AppError('invalid_request', `url: the target ${hidePassword(i.url)} does not answer: ${(err as Error).message.replaceAll(i.url, hidePassword(i.url))}`)
    } finally {
      await client.end().catch(() => undefined)
    }
    const row: GateTargetRow = {
      id: newId('gtg', 12),
      project: p.project,
      name: i.name,
      kind: i.kind,
      url: i.url,
      mirror_id: mirror.id,
      settings: JSON.stringify(i.settings),
      created_at: this.#now(),
    }
    const dup = await this.#d.db.selectFrom('gate_targets').select('id').where('project', '=', p.project).where('name', '=', i.name).executeTakeFirst()
    if (dup) throw new AppError('conflict', `gate target name ${JSON.stringify(i.name)} is taken by ${dup.id} in project ${p.project}; pass another name`)
    await this.#d.db.insertInto('gate_targets').values(row).execute()
    return this.view(row)
  }

  async row(p: Principal, idOrName: string): Promise<GateTargetRow> {
    const row = await this.#d.db
      .selectFrom('gate_targets')
      .selectAll()
      .where('project', '=', p.project)
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst()
    if (!row) throw notFound('gate target', idOrName)
    return row
  }

  async list(p: Principal, q: { limit: number; nextToken?: string | undefined }): Promise<{ items: GateTarget[]; nextToken?: string }> {
    return keysetPageOf({
      ...q,
      fetch: (after, n) => {
        const query = this.#d.db.selectFrom('gate_targets').selectAll().where('project', '=', p.project).orderBy('id').limit(n)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      view: (r) => this.view(r),
    })
  }

  async view(row: GateTargetRow): Promise<GateTarget> {
    const lock = await this.liveLock(row.id)
    const s = JSON.parse(row.settings) as TargetSettings
    return {
      id: row.id,
      project: row.project,
      name: row.name,
      kind: 'postgres',
      url: hidePassword(row.url),
      mirror: row.mirror_id,
      settings: { lockTimeoutMs: s.lockTimeoutMs, statementTimeoutMs: s.statementTimeoutMs, ...(s.role ? { role: s.role } : {}) },
      ...(lock ? { lock: { owner: lock.owner, reason: lock.reason, acquiredAt: lock.acquired_at, expiresAt: lock.expires_at } } : {}),
      createdAt: row.created_at,
    }
  }

  /** The lock of a target unless it lapsed. */
  async liveLock(targetId: string): Promise<GateLockRow | undefined> {
    const l = await this.#d.db.selectFrom('gate_locks').selectAll().where('target_id', '=', targetId).executeTakeFirst()
    return l && l.expires_at > this.#now() ? l : undefined
  }

  /**
   * Takes (or extends, for its owner) the promotion lock. Held by another owner and not lapsed: conflict
   * naming the owner, reason and expiry. One statement decides, so two takers cannot both win.
   */
  async lock(p: Principal, idOrName: string, reason: string, ttlSeconds: number): Promise<GateTarget> {
    const t = await this.row(p, idOrName)
    await this.acquire(t.id, p.tokenId, reason, ttlSeconds)
    return this.view(t)
  }

  async acquire(targetId: string, owner: string, reason: string, ttlSeconds: number): Promise<void> {
    const now = this.#now()
    const expires = new Date(this.#d.clock.now() + ttlSeconds * 1000).toISOString()
    await this.#d.db
      .insertInto('gate_locks')
      .values({ target_id: targetId, owner, reason, acquired_at: now, expires_at: expires })
      .onConflict((oc) =>
        oc
          .column('target_id')
          .doUpdateSet({ owner, reason, acquired_at: now, expires_at: expires })
          .where((eb) => eb.or([eb('gate_locks.owner', '=', owner), eb('gate_locks.expires_at', '<=', now)])),
      )
      .execute()
    const held = await this.#d.db.selectFrom('gate_locks').selectAll().where('target_id', '=', targetId).executeTakeFirstOrThrow()
    if (held.owner !== owner || held.expires_at !== expires)
      throw new AppError('conflict', `target ${targetId} is locked by ${held.owner} until ${held.expires_at} (${held.reason}); wait, or ask an admin to force-unlock it`, {
        reason: 'gate_locked',
        owner: held.owner,
        expiresAt: held.expires_at,
      })
  }

  /** Releases the lock (idempotent). Another owner's live lock only with force, by an admin; the force is audited. */
  async unlock(p: Principal, idOrName: string, force: boolean): Promise<GateTarget> {
    const t = await this.row(p, idOrName)
    const l = await this.liveLock(t.id)
    if (l && l.owner !== p.tokenId) {
      if (!force)
        throw new AppError('conflict', `target ${t.name} is locked by ${l.owner} until ${l.expires_at} (${l.reason}); only its owner releases it, or an admin with force`, {
          reason: 'gate_locked',
          owner: l.owner,
        })
      if (!p.scopes.includes('admin')) throw new AppError('policy_denied', `force-unlocking target ${t.name} needs the admin scope`, { reason: 'gate_force_unlock_admin' })
      await this.#d.audit.append({
        actor: p.tokenId,
        project: p.project,
        action: 'gate:force-unlock',
        target: t.id,
        outcome: 'ok',
        data: { owner: l.owner, reason: l.reason, expiresAt: l.expires_at },
      })
    }
    await this.#d.db.deleteFrom('gate_locks').where('target_id', '=', t.id).execute()
    return this.view(t)
  }

  /** Releases a lock the promotion took, if its owner still holds it. */
  async release(targetId: string, owner: string): Promise<void> {
    await this.#d.db.deleteFrom('gate_locks').where('target_id', '=', targetId).where('owner', '=', owner).execute()
  }
}
