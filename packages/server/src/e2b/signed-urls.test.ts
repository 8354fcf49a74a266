import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { AccessTokens, checkSignedForm, signatureOf, type SignedRequest } from './signed-urls.js'

/** The SDK's own computation (e2b 2.x signature.ts): sha256 of path:operation:user:token[:expiration], base64 without padding. */
function sdkSignature(path: string, operation: string, user: string, token: string, expiration?: number): string {
  const raw = expiration === undefined ? `${path}:${operation}:${user}:${token}` : `${path}:${operation}:${user}:${token}:${expiration}`
  return 'v1_' + createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')
}

const base = { path: '/home/user/a.txt', operation: 'read' as const, user: 'user', expiration: undefined }

describe('signed file URLs', () => {
  it('computes what the SDK signs, with and without an expiration', () => {
    expect(signatureOf(base, 'tok')).toBe(sdkSignature('/home/user/a.txt', 'read', 'user', 'tok'))
    expect(signatureOf({ ...base, operation: 'write', user: '', expiration: '1700000000' }, 'tok')).toBe(sdkSignature('/home/user/a.txt', 'write', '', 'tok', 1700000000))
  })

  it('finds the sandbox and token a signature was made with, in one sandbox or across all', () => {
    const tokens = new AccessTokens()
    tokens.remember('sbx_aaaaaa', 'tok-a')
    tokens.remember('sbx_bbbbbb', 'tok-b')
    tokens.remember('sbx_bbbbbb', 'tok-b') // twice is once
    const r: SignedRequest = { ...base, signature: signatureOf(base, 'tok-b') }
    expect(tokens.match(r, undefined)).toEqual({ sandboxId: 'sbx_bbbbbb', token: 'tok-b' })
    expect(tokens.match(r, 'sbx_bbbbbb')).toEqual({ sandboxId: 'sbx_bbbbbb', token: 'tok-b' })
    expect(tokens.match(r, 'sbx_aaaaaa')).toBeUndefined()
    // Signed for another path, operation or user: no match.
    expect(tokens.match({ ...r, path: '/etc/passwd' }, undefined)).toBeUndefined()
    expect(tokens.match({ ...r, operation: 'write' }, undefined)).toBeUndefined()
    expect(tokens.match({ ...r, user: 'root' }, undefined)).toBeUndefined()
  })

  it('refuses an expired or malformed URL with a reason, before any signature is computed', () => {
    const sig = signatureOf(base, 't')
    const now = 1_700_000_000_000
    expect(() => checkSignedForm({ ...base, signature: sig, expiration: '1700000001' }, now)).not.toThrow()
    expect(() => checkSignedForm({ ...base, signature: sig }, now)).not.toThrow()
    const reasonOf = (r: SignedRequest) => {
      try {
        checkSignedForm(r, now)
      } catch (err) {
        return [(err as { code: string }).code, (err as { details: { reason: string } }).details.reason]
      }
      return undefined
    }
    expect(reasonOf({ ...base, signature: sig, expiration: '1700000000' })).toEqual(['unauthenticated', 'signature_expired'])
    expect(reasonOf({ ...base, signature: sig, expiration: '-5' })).toEqual(['unauthenticated', 'signature_invalid'])
    expect(reasonOf({ ...base, signature: 'v2_abc', expiration: undefined })).toEqual(['unauthenticated', 'signature_invalid'])
  })
})
