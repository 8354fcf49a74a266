/** @module access/tokens — bearer tokens bound to a project with scopes; only their SHA-256 is stored. */
import { createHash } from 'node:crypto'
import { closeSync, fchmodSync, openSync, readFileSync, writeSync } from 'node:fs'
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

  /**
   * The principal of a token by its id, for a capability that names the token instead of carrying its
   * secret (a signed approval link, the identity GitHub webhooks create runs as); `unauthenticated` for an
   * unknown, revoked or expired one, so revoking the token ends what was bound to it.
   */
  async principalById(id: string): Promise<Principal> {
    const row = await this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row || row.revoked_at) throw new AppError('unauthenticated', `token ${id} is unknown or revoked`)
    if (row.expires_at && row.expires_at <= iso(this.clock.now())) throw new AppError('unauthenticated', `token ${row.id} expired at ${row.expires_at}`)
    return { tokenId: row.id, name: row.name, project: row.project, scopes: JSON.parse(row.scopes) as Scope[] }
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
    if (!row.revoked_at)
      await this.db
        .updateTable('tokens')
        .set({ revoked_at: iso(this.clock.now()) })
        .where('id', '=', id)
        .execute()
    for (const [hash, entry] of this.#cache) if (entry.principal.tokenId === id) this.#cache.delete(hash)
  }

  /**
   * First start: create an admin token, write it to `file` (created 0600, never over an existing file) and
   * return it so it can be printed once. Later starts: nothing, the file stays the way to find it. A file
   * holding a token the store does not know means the store was replaced or reset: refused, never
   * overwritten (the old token may be the only copy of the way in).
   */
  async bootstrapAdmin(file: string): Promise<string | undefined> {
    const existing = readTokenFile(file)
    if (existing !== undefined) {
      const known = await this.db.selectFrom('tokens').select('id').where('secret_hash', '=', hashSecret(existing)).executeTakeFirst()
      if (known) return undefined
      throw new AppError(
        'runtime_unavailable',
        `${file} holds a token the store does not know (the store was replaced, reset or restored from an older backup); restore the store that goes with it, or move ${file} away to have a new admin token made`,
        { file, problem: 'unknown_admin_token' },
      )
    }
    const created = await this.create({ project: 'default', scopes: ['admin'], name: 'admin' })
    let fd: number
    try {
      fd = openSync(file, 'wx', 0o600) // O_CREAT|O_EXCL: fails on any existing file or link, never truncates
    } catch (err) {
      await this.db.deleteFrom('tokens').where('id', '=', created.id).execute()
      throw new AppError('conflict', `${file} appeared while tidepool was starting; stop the other process writing it and start again`, { file }, { cause: err })
    }
    try {
      writeSync(fd, `${created.token}\n`)
      fchmodSync(fd, 0o600)
    } finally {
      closeSync(fd)
    }
    return created.token
  }
}

/** The token in an admin token file, or undefined when there is none. An unreadable file is an error, not "none". */
function readTokenFile(file: string): string | undefined {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new AppError('runtime_unavailable', `cannot read ${file}: ${(err as Error).message}; fix its owner and mode (0600, tidepool's user) or move it away`, { file }, { cause: err })
  }
  return text.trim()
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
