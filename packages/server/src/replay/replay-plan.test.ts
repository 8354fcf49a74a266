import { describe, expect, it } from 'vitest'
import { redactForAudit } from '../audit/redact.js'
import { compareStep, idsIn, mapIds, redactionMarker, refusalOf, rewriteIds } from './replay-plan.js'
import { auditResultOf } from '../audit/result-digest.js'

describe('refusalOf', () => {
  it('re-issues sandbox calls whose input the audit kept whole', () => {
    expect(refusalOf('exec', redactForAudit({ id: 'sbx_abcdef12', cmd: ['cat', 'f'], timeoutMs: 60000 }))).toBeUndefined()
    expect(refusalOf('createSandbox', redactForAudit({ template: 'default' }))).toBeUndefined()
  })
  it('skips stream ends, token, audit and admin operations, tunnels and unknown operations', () => {
    expect(refusalOf('exec:result', {})).toMatchObject({ status: 'skipped' })
    expect(refusalOf('createToken', {})).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/token/) })
    expect(refusalOf('replayRun', {})).toMatchObject({ status: 'skipped' })
    expect(refusalOf('connectPort', {})).toMatchObject({ status: 'skipped', reason: expect.stringMatching(/tunnel/) })
    expect(refusalOf('noSuchOp', {})).toMatchObject({ status: 'skipped' })
    expect(refusalOf('__proto__', {})).toMatchObject({ status: 'skipped' })
  })
  it('refuses, with the reason, what the audit did not keep whole', () => {
    expect(refusalOf('writeFile', redactForAudit({ id: 'sbx_abcdef12', path: 'f', content: new Uint8Array(3) }))).toMatchObject({
      status: 'not_replayable',
      reason: expect.stringMatching(/length of content/),
    })
    const secret = redactForAudit({ id: 'sbx_abcdef12', cmd: ['env'], envs: { KEY: 'v' } })
    expect(refusalOf('exec', secret)).toMatchObject({ status: 'not_replayable', reason: expect.stringMatching(/secret/) })
  })
})

describe('redactionMarker', () => {
  it('finds every mark redactForAudit leaves, and none in whole input', () => {
    expect(redactionMarker(redactForAudit({ cmd: 'x'.repeat(5000) }))).toMatch(/longer/)
    expect(redactionMarker(redactForAudit({ cmd: Array.from({ length: 100 }, () => 'a') }))).toMatch(/array/)
    expect(redactionMarker(redactForAudit(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i]))))).toMatch(/keys/)
    let deep: unknown = 'leaf'
    for (let i = 0; i < 12; i++) deep = { d: deep }
    expect(redactionMarker(redactForAudit(deep))).toMatch(/nested/)
    expect(redactionMarker(redactForAudit({ url: 'postgres://u:pw@db/x' }))).toMatch(/URL/)
    expect(redactionMarker(redactForAudit({ stdin: 'secret' }))).toMatch(/secret/)
    expect(redactionMarker(redactForAudit({ cmd: ['sh', '-c', 'echo [x] … done'], n: 3, ok: true, none: null }))).toBeUndefined()
  })
})

describe('rewriteIds', () => {
  const ids = new Map([['sbx_old00000', 'sbx_new11111']])
  it('replaces mapped ids wherever they occur, whole or inside a string', () => {
    expect(rewriteIds({ id: 'sbx_old00000', cmd: ['cat', '/tmp/sbx_old00000.log'], n: 1 }, ids)).toEqual({ id: 'sbx_new11111', cmd: ['cat', '/tmp/sbx_new11111.log'], n: 1 })
    expect(rewriteIds({ id: 'sbx_other000' }, ids)).toEqual({ id: 'sbx_other000' })
  })
  it('keeps a __proto__ key a key: no prototype is set', () => {
    const out = rewriteIds(JSON.parse('{"__proto__":{"polluted":true},"id":"sbx_old00000"}'), ids) as Record<string, unknown>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.hasOwn(out, '__proto__')).toBe(true)
  })
})

describe('mapIds and idsIn', () => {
  it('pairs the ids at the same place of the recorded and replayed results', () => {
    const ids = new Map<string, string>()
    mapIds({ id: 'sbx_old00000', template: 'default', forks: [{ id: 'sbx_f1000000' }] }, { id: 'sbx_new11111', template: 'default', forks: [{ id: 'sbx_f2000000' }] }, ids)
    expect([...ids]).toEqual([
      ['sbx_old00000', 'sbx_new11111'],
      ['sbx_f1000000', 'sbx_f2000000'],
    ])
    expect([...idsIn({ a: 'sbx_old00000', b: ['snap_abcdefg', 'plain'], c: 'req_' })]).toEqual(['sbx_old00000', 'snap_abcdefg'])
  })
})

describe('compareStep', () => {
  const exec = (stdout: string, ms: number) => ({ exitCode: 0, stdout, stderr: '', durationMs: ms, timedOut: false })
  it('is same when only ids, times and durations differ', () => {
    const recorded = { outcome: 'ok', result: auditResultOf({ ...exec('hi', 12), sandbox: 'sbx_old00000' }) }
    const replayed = { outcome: 'ok', result: auditResultOf({ ...exec('hi', 40), sandbox: 'sbx_new11111' }) }
    expect(compareStep(recorded, replayed)).toEqual({ status: 'same' })
  })
  it('differs when the output does, fails when the replay fails, and says so', () => {
    expect(compareStep({ outcome: 'ok', result: auditResultOf(exec('a', 1)) }, { outcome: 'ok', result: auditResultOf(exec('b', 1)) }).status).toBe('differs')
    expect(compareStep({ outcome: 'ok', result: auditResultOf(exec('a', 1)) }, { outcome: 'policy_denied', message: 'needs scope' })).toEqual({
      status: 'failed',
      reason: 'policy_denied: needs scope',
    })
    expect(compareStep({ outcome: 'not_found' }, { outcome: 'not_found' }).status).toBe('same')
    expect(compareStep({ outcome: 'not_found' }, { outcome: 'ok', result: auditResultOf({}) }).status).toBe('differs')
    expect(compareStep({ outcome: 'conflict' }, { outcome: 'not_found' }).status).toBe('differs')
  })
  it('is unverified when the original kept no result, or only that it returned bytes', () => {
    expect(compareStep({ outcome: 'ok' }, { outcome: 'ok', result: auditResultOf({}) }).status).toBe('unverified')
    expect(compareStep({ outcome: 'ok', result: auditResultOf({ returned: 'bytes' }) }, { outcome: 'ok', result: auditResultOf({ returned: 'bytes' }) }).status).toBe('unverified')
  })
})
