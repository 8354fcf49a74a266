/** @module core/ids — random, prefixed, URL-safe ids. */
import { randomBytes } from 'node:crypto'

const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** `prefix_` + n chars of [a-z0-9] (uniform: rejection-free since 256 % 36 bias is irrelevant for ids at n ≥ 12). */
export function newId(prefix: string, n = 16): string {
  const bytes = randomBytes(n)
  let out = ''
  for (const b of bytes) out += alphabet[b % alphabet.length]
  return `${prefix}_${out}`
}

export function newSecret(): string {
  return `tp_${randomBytes(24).toString('base64url')}`
}
