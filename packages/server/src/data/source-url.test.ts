import { describe, expect, it } from 'vitest'
import { libpqEnv, parseSourceUrl, redactUrl } from './source-url.js'

describe('source URLs', () => {
  it('parses TCP and Unix-socket URLs', () => {
    expect(parseSourceUrl('postgresql://app:s%40cret@db.internal:6543/shop?sslmode=require')).toEqual({
      host: 'db.internal',
      port: 6543,
      database: 'shop',
      user: 'app',
      password: 's@cret',
      sslmode: 'require',
    })
    expect(parseSourceUrl('postgres://app@/shop?host=/run/postgresql')).toMatchObject({ host: '/run/postgresql', port: 5432, user: 'app', password: undefined })
    expect(parseSourceUrl('postgresql://[::1]:5/d')).toMatchObject({ host: '::1', port: 5 })
  })

  it('refuses what it cannot use, naming the problem, never echoing the password', () => {
    expect(() => parseSourceUrl('mysql://a@b/c')).toThrow(/not a postgresql:\/\/ URL/)
    expect(() => parseSourceUrl('postgresql://u:pw@host')).toThrow(/database name is missing/)
    expect(() => parseSourceUrl('postgresql://u:pw@host/d?port=0')).toThrow(/port must be/)
    expect(() => parseSourceUrl('postgresql://u:pw@host/d?options=-c')).toThrow(/unsupported parameter options/)
    try {
      parseSourceUrl('postgresql://u:topsecret@host:1:2/d')
    } catch (err) {
      expect((err as Error).message).not.toContain('topsecret')
    }
  })

  it('hides passwords and passes credentials in the environment', () => {
    expect(redactUrl('postgresql://app:pw@h:1/d')).toBe('postgresql://app:***@h:1/d')
    expect(redactUrl('postgresql://app@h/d')).toBe('postgresql://app@h/d')
    expect(libpqEnv(parseSourceUrl('postgresql://app:pw@h:1/d'))).toMatchObject({ PGHOST: 'h', PGPORT: '1', PGUSER: 'app', PGPASSWORD: 'pw', PGDATABASE: 'd' })
  })
})
