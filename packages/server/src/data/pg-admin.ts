/** @module data/pg-admin — talk to a managed server as its admin (Unix socket, peer auth); SQL quoting; SCRAM verifiers. */
import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto'
import pg from 'pg'
import { ADMIN_ROLE } from './pg-server.js'

export interface ServerAddress {
  socketDir: string
  port: number
}

/** Runs `fn` with an admin connection to `database` on a managed server; always disconnects. */
export async function withAdmin<T>(addr: ServerAddress, database: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: addr.socketDir, port: addr.port, user: ADMIN_ROLE, database, connectionTimeoutMillis: 30_000 })
  client.on('error', () => undefined) // a server stopped under us surfaces on the next query instead
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => undefined) // closing: a connection that cannot close is already gone
  }
}

export const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`
export const quoteLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`
/** `schema.table` → `"schema"."table"`. */
export const qualified = (schema: string, name: string) => `${quoteIdent(schema)}.${quoteIdent(name)}`

/** A random password of URL-safe characters (no escaping needed in a connection URL). */
export const newPassword = () => randomBytes(18).toString('base64url')

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677). Sending the verifier
 * instead of the password keeps the cleartext out of the server's statement log. Clone passwords are
 * 144 random bits, so key stretching buys nothing: fewer iterations than the default 4096 save a few
 * milliseconds of PBKDF2 on both ends of every connection.
 */
export async function scramVerifier(password: string, iterations = 256): Promise<string> {
  const salt = randomBytes(16)
  const salted = await new Promise<Buffer>((res, rej) => pbkdf2(password.normalize('NFKC'), salt, iterations, 32, 'sha256', (e, k) => (e ? rej(e) : res(k))))
  const clientKey = createHmac('sha256', salted).update('Client Key').digest()
  const storedKey = createHash('sha256').update(clientKey).digest()
  const serverKey = createHmac('sha256', salted).update('Server Key').digest()
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`
}

/** `CREATE ROLE` for a clone: may log in with its password, owns nothing, inherits the mirror owner's rights. */
export function createCloneRoleSql(user: string, verifier: string, ownerRole: string): string {
  return `CREATE ROLE ${quoteIdent(user)} LOGIN PASSWORD ${quoteLiteral(verifier)} IN ROLE ${quoteIdent(ownerRole)}`
}
