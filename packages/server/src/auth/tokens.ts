/** @module auth/tokens — bearer tokens bound to a project with scopes; only their SHA-256 is stored. */
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, writeFileSync } from 'node:fs'
import type { Principal, Scope } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import { newId, newSecret } from '../core/ids.js'
import type { Db } from '../store/db.js'
import type { TokenRow } from '../store/schema.js'

export interface TokenInfo {
  id: string
  name: string
  project: string
  scopes: Scope[]
  createdAt: string
  expiresAt?: string
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex')

/** How long an authenticated token is trusted without looking at the store again. */
const authCacheMs = 2000

export class TokenService {
  readonly #cache = new Map<string, { principal: Principal; until: number }>()

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  async create(input: { project: string; scopes: Scope[]; name: string; ttlSeconds?: number | undefined }): Promise<TokenInfo & { token: string }> {
    const token = newSecret()
    const now = this.clock.now()
    const row: TokenRow = {
      id: newId('tok', 12),
      name: input.name,
      project: input.project,
      scopes: JSON.stringify([...new Set(input.scopes)].sort()),
      secret_hash: hashSecret(token),
      created_at: iso(now),
      expires_at: input.ttlSeconds ? iso(now + input.ttlSeconds * 1000) : null,
      revoked_at: null,
    }
    await this.db.insertInto('tokens').values(row).execute()
    return { ...toInfo(row), token }
  }

  /** The principal behind a bearer secret; `unauthenticated` for a missing, unknown, revoked or expired one. */
  async authenticate(secret: string | undefined): Promise<Principal> {
    if (!secret) throw new AppError('unauthenticated', 'missing bearer token: send Authorization: Bearer <token> (see $TIDEPOOL_HOME/admin.token)')
    const hash = hashSecret(secret)
    const cached = this.#cache.get(hash)
    const now = this.clock.now()
    if (cached && cached.until > now) return cached.principal
    const row = await this.db.selectFrom('tokens').selectAll().where('secret_hash', '=', hash).executeTakeFirst()
    if (!row || row.revoked_at) throw new AppError('unauthenticated', 'invalid or revoked token')
    if (row.expires_at && row.expires_at <= iso(this.clock.now())) throw new AppError('unauthenticated', `token ${row.id} expired at ${row.expires_at}`)
    const principal = { tokenId: row.id, name: row.name, project: row.project, scopes: JSON.parse(row.scopes) as Scope[] }
    // Cached briefly: a revoke here clears it at once; one made by another replica takes effect within the TTL.
    const until = Math.min(now + authCacheMs, row.expires_at ? Date.parse(row.expires_at) : Number.POSITIVE_INFINITY)
    if (this.#cache.size > 10_000) this.#cache.clear()
    this.#cache.set(hash, { principal, until })
    return principal
  }

  async list(limit: number, after?: string): Promise<TokenInfo[]> {
    let q = this.db.selectFrom('tokens').selectAll().where('revoked_at', 'is', null).orderBy('id').limit(limit)
    if (after) q = q.where('id', '>', after)
    return (await q.execute()).map(toInfo)
  }

  /** Idempotent: revoking a revoked token is fine; an unknown id is not_found. */
  async revoke(id: string): Promise<void> {
    const row = await this.db.selectFrom('tokens').select(['id', 'revoked_at']).where('id', '=', id).executeTakeFirst()
    if (!row) throw new AppError('not_found', `token ${id} not found`)
    if (!row.revoked_at) await this.db.updateTable('tokens').set({ revoked_at: iso(this.clock.now()) }).where('id', '=', id).execute()
    for (const [hash, entry] of this.#cache) if (entry.principal.tokenId === id) this.#cache.delete(hash)
  }

  /**
   * First start: create an admin token, write it to `file` (mode 0600) and return it so it can be printed once.
   * Later starts: nothing (the file stays the way to find it).
   */
  async bootstrapAdmin(file: string): Promise<string | undefined> {
    const any = await this.db.selectFrom('tokens').select('id').where('scopes', 'like', '%"admin"%').where('revoked_at', 'is', null).limit(1).executeTakeFirst()
    if (any && existsSync(file)) return undefined
    const created = await this.create({ project: 'default', scopes: ['admin'], name: 'admin' })
    writeFileSync(file, `${created.token}\n`, { mode: 0o600 })
    chmodSync(file, 0o600)
    return created.token
  }
}

function toInfo(row: TokenRow): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    project: row.project,
    scopes: JSON.parse(row.scopes) as Scope[],
    createdAt: row.created_at,
    ...(row.expires_at ? { expiresAt: row.expires_at } : {}),
  }
}
