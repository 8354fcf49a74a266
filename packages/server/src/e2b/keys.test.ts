import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { accessTokenFor, apiKeyOf, loadOrCreateSecret, principalOfAccessToken, tokenOfApiKey } from './keys.js'

const admin = { tokenId: 'tok_admin000001', name: 'admin', project: 'default', scopes: ['admin' as const] }
const secret = Buffer.alloc(32, 7)

describe('e2b keys', () => {
  it('turns a token into an e2b_<hex> API key the SDKs accept, and back', () => {
    const key = apiKeyOf('tp_abc.DEF-123')
    expect(key).toMatch(/^e2b_[0-9a-f]+$/)
    expect(tokenOfApiKey(key)).toBe('tp_abc.DEF-123')
    expect(tokenOfApiKey('tp_plain')).toBe('tp_plain') // a raw tidepool token works too
    expect(tokenOfApiKey('e2b_xyz')).toBe('e2b_xyz') // not hex: passed on as it is (and refused by authenticate)
    expect(() => tokenOfApiKey('e2b_' + 'a'.repeat(4000))).toThrow(/longer than/)
  })

  it('binds an access token to one sandbox and cuts it to the sandbox scopes', () => {
    const t = accessTokenFor(secret, 'sbx_aaaaaaaa', admin)
    expect(principalOfAccessToken(secret, 'sbx_aaaaaaaa', t)).toEqual({ ...admin, scopes: ['sandboxes:read', 'sandboxes:write'] })
    expect(() => principalOfAccessToken(secret, 'sbx_bbbbbbbb', t)).toThrow(/not valid for sandbox sbx_bbbbbbbb/)
    expect(() => principalOfAccessToken(Buffer.alloc(32, 8), 'sbx_aaaaaaaa', t)).toThrow(/not valid/)
    expect(() => principalOfAccessToken(secret, 'sbx_aaaaaaaa', undefined)).toThrow(/missing X-Access-Token/)
    expect(() => principalOfAccessToken(secret, 'sbx_aaaaaaaa', 'nodot')).toThrow(/not a tidepool envd access token/)
    const reader = accessTokenFor(secret, 'sbx_aaaaaaaa', { ...admin, scopes: ['sandboxes:read', 'audit:read'] })
    expect(principalOfAccessToken(secret, 'sbx_aaaaaaaa', reader).scopes).toEqual(['sandboxes:read'])
    // A payload edited to claim more scopes fails the signature.
    const [, sig] = reader.split('.')
    const forged = Buffer.from(JSON.stringify({ t: admin.tokenId, n: 'x', p: 'default', s: ['sandboxes:write'] })).toString('base64url')
    expect(() => principalOfAccessToken(secret, 'sbx_aaaaaaaa', `${forged}.${sig}`)).toThrow(/not valid/)
  })

  it('keeps the signing secret in a 0600 file and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tidepool-e2b-key-'))
    try {
      const file = join(dir, 'e2b.key')
      const a = loadOrCreateSecret(file)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(loadOrCreateSecret(file).equals(a)).toBe(true)
      expect(readFileSync(file, 'utf8')).toBe(a.toString('hex'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
