import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { clientSettings, loadConfig, printableConfig } from './config.js'

let home: string
beforeEach(() => (home = mkdtempSync(join(tmpdir(), 'tidepool-config-'))))
afterEach(() => rmSync(home, { recursive: true, force: true }))

describe('loadConfig', () => {
  it('defaults every key', () => {
    const c = loadConfig({ env: { TIDEPOOL_HOME: home } })
    expect(c).toMatchObject({ home, host: '127.0.0.1', port: 7070, runtime: { kind: 'local', cgroupName: 'tidepool' }, defaults: { memoryMb: 512 } })
  })
  it('reads config.yaml, then TIDEPOOL_* overrides', () => {
    writeFileSync(join(home, 'config.yaml'), 'port: 8080\nquotas:\n  projects:\n    ci: { sandboxes: 5 }\n')
    const c = loadConfig({ env: { TIDEPOOL_HOME: home, TIDEPOOL_PORT: '9090', TIDEPOOL_STORE_URL: 'postgres://u:secret@db/x' } })
    expect(c.port).toBe(9090)
    expect(c.quotas.projects.ci).toEqual({ sandboxes: 5 })
    expect(printableConfig(c).storeUrl).toBe('postgres://u:***@db/x')
  })
  it('names the bad key, and unknown keys', () => {
    writeFileSync(join(home, 'config.yaml'), 'port: -1\nportt: 3\n')
    expect(() => loadConfig({ env: { TIDEPOOL_HOME: home } })).toThrow(/port: Too small.*\(root\): unknown key\(s\) portt|\(root\): unknown key\(s\) portt.*port: Too small/)
  })
  it('refuses broken YAML and a missing --config file', () => {
    writeFileSync(join(home, 'config.yaml'), 'port: [1,\n')
    expect(() => loadConfig({ env: { TIDEPOOL_HOME: home } })).toThrow(/not valid YAML/)
    expect(() => loadConfig({ env: { TIDEPOOL_HOME: home }, file: join(home, 'nope.yaml') })).toThrow(/does not exist/)
  })
  it('gives the CLI its URL and token: env first, then the admin token file', () => {
    const c = loadConfig({ env: { TIDEPOOL_HOME: home } })
    expect(clientSettings({}, c)).toMatchObject({ baseUrl: 'http://127.0.0.1:7070', token: undefined })
    writeFileSync(join(home, 'admin.token'), 'tp_file\n')
    expect(clientSettings({}, c).token).toBe('tp_file')
    expect(clientSettings({ TIDEPOOL_TOKEN: 'tp_env', TIDEPOOL_URL: 'http://x:1' }, c)).toMatchObject({ baseUrl: 'http://x:1', token: 'tp_env' })
  })
})

describe('loadConfig: prototype keys in YAML', () => {
  it.each([
    ['__proto__:\n  logLevel: debug\n', '__proto__'],
    ['quotas:\n  projects:\n    __proto__: { sandboxes: 1 }\n', 'quotas.projects.__proto__'],
    ['quotas:\n  projects:\n    constructor: { sandboxes: 1 }\n', 'quotas.projects.constructor'],
    ['runtime:\n  prototype: 1\n', 'runtime.prototype'],
  ])('refuses %j naming %s, and changes no prototype', (yaml, path) => {
    writeFileSync(join(home, 'config.yaml'), yaml)
    let err: { code?: string; message?: string; details?: { path: string }[] } | undefined
    try {
      loadConfig({ env: { TIDEPOOL_HOME: home } })
    } catch (e) {
      err = e as typeof err
    }
    expect(err?.code).toBe('invalid_request')
    expect(err?.message).toContain(`${path}: the key`)
    expect(err?.details?.[0]?.path).toBe(path)
    expect(({} as Record<string, unknown>).sandboxes).toBeUndefined()
    expect(({} as Record<string, unknown>).logLevel).toBeUndefined()
  })
  it('refuses a YAML document that is not a mapping', () => {
    writeFileSync(join(home, 'config.yaml'), '- a\n- b\n')
    expect(() => loadConfig({ env: { TIDEPOOL_HOME: home } })).toThrow(/must hold a mapping of keys \(got a list\)/)
  })
})
