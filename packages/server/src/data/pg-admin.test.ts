import { describe, expect, it } from 'vitest'
import { createCloneRoleSql, newPassword, qualified, quoteIdent, quoteLiteral, scramVerifier } from './pg-admin.js'
import { bindingEnvs } from './binder.js'

describe('pg-admin helpers', () => {
  it('quotes identifiers and literals', () => {
    expect(quoteIdent('a"b')).toBe('"a""b"')
    expect(quoteLiteral("it's")).toBe("'it''s'")
    expect(qualified('s', 't')).toBe('"s"."t"')
  })

  it('makes SCRAM-SHA-256 verifiers, never the password itself', async () => {
    const pw = newPassword()
    expect(pw).toMatch(/^[A-Za-z0-9_-]{24}$/)
    const v = await scramVerifier(pw)
    expect(v).toMatch(/^SCRAM-SHA-256\$256:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/)
    expect(createCloneRoleSql('dcl_x', v, 'tidepool_owner')).not.toContain(pw)
  })

  it('gives a bound sandbox DATABASE_URL and PG* over the mounted socket dir', () => {
    const e = bindingEnvs({ user: 'dcl_x', password: 'p/w', database: 'shop', port: 15433 })
    expect(e.DATABASE_URL).toBe('postgresql://dcl_x:p%2Fw@localhost/shop?host=%2Frun%2Fpostgresql&port=15433')
    expect(e).toMatchObject({ PGHOST: '/run/postgresql', PGPORT: '15433', PGUSER: 'dcl_x', PGDATABASE: 'shop' })
  })
})
