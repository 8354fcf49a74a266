/** @module e2b/keys — the E2B-shaped API key of a tidepool token, and the per-sandbox envd access token. */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import type { Principal, Scope } from '@tidepool/sdk'
import { AppError } from '../core/errors.js'

/** The e2b SDKs refuse an API key that is not `e2b_` followed by hex digits (unless told not to check). */
const API_KEY_PREFIX = 'e2b_'
const HEX = /^[0-9a-f]+$/
/** Longest X-API-KEY read (a tidepool token is ~50 characters; hex doubles it). */
const MAX_KEY_CHARS = 1024
const MAX_ACCESS_TOKEN_CHARS = 2048

/** `e2b_<hex of the token's bytes>`: what `tidepool e2b env` prints as E2B_API_KEY. */
export function apiKeyOf(token: string): string {
  return API_KEY_PREFIX + Buffer.from(token, 'utf8').toString('hex')
}

/** The tidepool token behind an X-API-KEY: the E2B-shaped form decoded, any other value as it is. */
export function tokenOfApiKey(key: string): string {
  if (key.length > MAX_KEY_CHARS) throw new AppError('unauthenticated', `X-API-KEY is longer than ${MAX_KEY_CHARS} characters; send the key tidepool e2b env printed`)
  const hex = key.startsWith(API_KEY_PREFIX) ? key.slice(API_KEY_PREFIX.length) : undefined
  if (hex !== undefined && hex.length % 2 === 0 && HEX.test(hex)) return Buffer.from(hex, 'hex').toString('utf8')
  return key
}

/** The server's secret that envd access tokens are signed with: made once under TIDEPOOL_HOME (0600). */
export function loadOrCreateSecret(file: string): Buffer {
  try {
    const hex = readFileSync(file, 'utf8').trim()
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const key = randomBytes(32)
  writeFileSync(file, key.toString('hex'), { mode: 0o600 })
  chmodSync(file, 0o600)
  return key
}

/** What an envd access token carries: the principal who created or connected, cut to the sandbox scopes. */
interface Grant {
  t: string
  n: string
  p: string
  s: Scope[]
}

const sandboxScopes: Scope[] = ['sandboxes:read', 'sandboxes:write']

/**
 * The envdAccessToken of a sandbox for a principal: `<payload>.<HMAC-SHA256(secret, id.payload)>`, so it
 * is valid for that sandbox only and needs no table. It grants what the principal may do with sandboxes.
 */
export function accessTokenFor(secret: Buffer, sandboxId: string, p: Principal): string {
  const scopes = p.scopes.includes('admin') ? sandboxScopes : sandboxScopes.filter((s) => p.scopes.includes(s))
  const grant: Grant = { t: p.tokenId, n: p.name, p: p.project, s: scopes }
  const payload = Buffer.from(JSON.stringify(grant), 'utf8').toString('base64url')
  return `${payload}.${sign(secret, sandboxId, payload)}`
}

/** The principal an X-Access-Token stands for in sandbox `sandboxId`; `unauthenticated` when it is not one of ours for it. */
export function principalOfAccessToken(secret: Buffer, sandboxId: string, token: string | undefined): Principal {
  if (!token) throw new AppError('unauthenticated', 'missing X-Access-Token: send the envdAccessToken the create or connect call returned')
  const dot = token.indexOf('.')
  if (token.length > MAX_ACCESS_TOKEN_CHARS || dot < 1) throw new AppError('unauthenticated', 'X-Access-Token is not a tidepool envd access token')
  const payload = token.slice(0, dot)
  const given = Buffer.from(token.slice(dot + 1), 'utf8')
  const want = Buffer.from(sign(secret, sandboxId, payload), 'utf8')
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw new AppError('unauthenticated', `X-Access-Token is not valid for sandbox ${sandboxId}`)
  const grant = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Grant
  return { tokenId: grant.t, name: grant.n, project: grant.p, scopes: grant.s.filter((s) => sandboxScopes.includes(s)) }
}

function sign(secret: Buffer, sandboxId: string, payload: string): string {
  return createHmac('sha256', secret).update(`${sandboxId}.${payload}`).digest('base64url')
}
