/**
 * @module network/secrets — the secrets the egress proxy brokers, encrypted at rest with AES-256-GCM
 * (a fresh IV each; the project and name are authenticated data, so a sealed value moved to another
 * row does not open). The key is 32 random bytes in a 0600 file under the data directory, outside the
 * store: a copy of the database alone reveals nothing. Values are never returned and never logged.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SecretInfo } from '@tidepool/sdk'
import type { Clock } from '../core/clock.js'
import { iso } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import type { NetworkDb } from './tables.js'

export function loadOrCreateKey(file: string): Buffer {
  if (existsSync(file)) {
    const key = readFileSync(file)
    if (key.length !== 32) throw new AppError('internal', `secrets key ${file} is not 32 bytes; restore it from a backup (secrets sealed with another key cannot be opened)`)
    chmodSync(file, 0o600)
    return key
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const key = randomBytes(32)
  writeFileSync(file, key, { mode: 0o600, flag: 'wx' })
  return key
}

export function seal(key: Buffer, aad: string, value: string): string {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(aad))
  const body = Buffer.concat([c.update(value, 'utf8'), c.final()])
  return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64')
}

export function open(key: Buffer, aad: string, sealed: string): string {
  const raw = Buffer.from(sealed, 'base64')
  const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12))
  d.setAAD(Buffer.from(aad))
  d.setAuthTag(raw.subarray(12, 28))
  return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8')
}

const aadOf = (project: string, name: string) => `tidepool-secret\0${project}\0${name}`

export class SecretStore {
  constructor(private readonly d: { db: NetworkDb; key: Buffer; clock: Clock }) {}

  async put(project: string, name: string, value: string): Promise<SecretInfo> {
    const now = iso(this.d.clock.now())
    const sealed = seal(this.d.key, aadOf(project, name), value)
    await this.d.db
      .insertInto('network_secrets')
      .values({ project, name, sealed, created_at: now, updated_at: now })
      .onConflict((oc) => oc.columns(['project', 'name']).doUpdateSet({ sealed, updated_at: now }))
      .execute()
    const row = await this.d.db.selectFrom('network_secrets').select(['name', 'created_at', 'updated_at']).where('project', '=', project).where('name', '=', name).executeTakeFirstOrThrow()
    return { name: row.name, createdAt: row.created_at, updatedAt: row.updated_at }
  }

  async list(project: string): Promise<SecretInfo[]> {
    const rows = await this.d.db.selectFrom('network_secrets').select(['name', 'created_at', 'updated_at']).where('project', '=', project).orderBy('name').limit(10_000).execute()
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at, updatedAt: r.updated_at }))
  }

  async delete(project: string, name: string): Promise<void> {
    await this.d.db.deleteFrom('network_secrets').where('project', '=', project).where('name', '=', name).execute()
  }

  /** The plain value, for the proxy only. */
  async value(project: string, name: string): Promise<string | undefined> {
    const row = await this.d.db.selectFrom('network_secrets').select('sealed').where('project', '=', project).where('name', '=', name).executeTakeFirst()
    return row ? open(this.d.key, aadOf(project, name), row.sealed) : undefined
  }
}
