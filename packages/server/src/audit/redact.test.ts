import { describe, expect, it } from 'vitest'
import { redactForAudit } from './redact.js'

describe('redactForAudit', () => {
  it('hides env values, stdin and tokens but keeps the keys', () => {
    expect(redactForAudit({ envs: { A: 'secret' }, stdin: 'pw', token: 'tp_x', cmd: ['ls'] })).toEqual({ envs: { A: '[redacted]' }, stdin: '[redacted]', token: '[redacted]', cmd: ['ls'] })
  })
  it('hides passwords inside URLs, anywhere', () => {
    expect(redactForAudit({ url: 'postgresql://reader:s3cr3t@db:5432/shop', list: ['https://u:p@x/y'] })).toEqual({ url: 'postgresql://reader:***@db:5432/shop', list: ['https://u:***@x/y'] })
  })
  it('replaces raw bytes by their length', () => {
    expect(redactForAudit({ content: new Uint8Array(5) })).toEqual({ content: { bytes: 5 } })
  })
})
