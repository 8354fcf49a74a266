import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { LinkSigner, loadOrCreateLinkKey } from './links.js'

const claims = { remediationId: 'rem_abc', decision: 'approve' as const, project: 'shop', tokenId: 'tok_1', expiresAt: 2000 }
const reasonOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return { code: (err as { code?: string }).code, reason: ((err as { details?: { reason?: string } }).details ?? {}).reason }
  }
  return undefined
}

describe('approval links', () => {
  const home = mkdtempSync(join(tmpdir(), 'tidepool-links-'))
  const key = loadOrCreateLinkKey(join(home, 'webhooks', 'link.key'))

  it('keep their key in a 0600 file, the same on the next start', () => {
    expect(statSync(join(home, 'webhooks', 'link.key')).mode & 0o777).toBe(0o600)
    expect(loadOrCreateLinkKey(join(home, 'webhooks', 'link.key')).equals(key)).toBe(true)
  })

  it('verify what they signed until they expire', () => {
    const s = new LinkSigner(key)
    expect(s.verify(s.sign(claims), 1999)).toEqual(claims)
    expect(reasonOf(() => s.verify(s.sign(claims), 2000))).toEqual({ code: 'unauthenticated', reason: 'link_expired' })
  })

  it('refuse a changed claim, another key, or a malformed token', () => {
    const s = new LinkSigner(key)
    const t = s.sign(claims)
    const [body, mac] = t.split('.') as [string, string]
    const forged = Buffer.from(JSON.stringify({ r: 'rem_abc', d: 'approve', p: 'shop', k: 'tok_admin', e: 2000 })).toString('base64url')
    for (const bad of [`${forged}.${mac}`, `${body}.${mac.slice(1)}x`, new LinkSigner(Buffer.alloc(32, 7)).sign(claims), 'garbage', '', '.', 'a'.repeat(5000)])
      expect(
        reasonOf(() => s.verify(bad, 1000)),
        bad.slice(0, 20),
      ).toEqual({ code: 'unauthenticated', reason: 'link_invalid' })
    rmSync(home, { recursive: true, force: true })
  })
})
