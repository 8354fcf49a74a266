import { createHmac, timingSafeEqual } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { newWebhookSecret, signDelivery, verifyDelivery, verifyGithubSignature } from './signing.js'

/** The receiver's recipe exactly as the README gives it (no tidepool code). */
function readmeVerify(secret: string, headers: Record<string, string>, rawBody: string, nowSeconds: number): boolean {
  const ts = headers['x-tidepool-timestamp'] ?? ''
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds - Number(ts)) > 300) return false
  const expected = 'v1=' + createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex')
  const got = headers['x-tidepool-signature'] ?? ''
  return got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected))
}

describe('delivery signatures', () => {
  const secret = newWebhookSecret()
  const body = JSON.stringify({ id: 'dlv_1', event: 'triage.summary', data: { ü: 'ñ' } })

  it('verify with the documented recipe, and with verifyDelivery', () => {
    const sig = signDelivery(secret, 1_767_225_600, body)
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/)
    const headers = { 'x-tidepool-timestamp': '1767225600', 'x-tidepool-signature': sig }
    expect(readmeVerify(secret, headers, body, 1_767_225_650)).toBe(true)
    expect(verifyDelivery(secret, { signature: sig, timestamp: '1767225600' }, body, 1_767_225_650)).toBe(true)
  })

  it('fail for another body, secret or timestamp, and for an old timestamp', () => {
    const sig = signDelivery(secret, 1_767_225_600, body)
    expect(verifyDelivery(secret, { signature: sig, timestamp: '1767225600' }, `${body} `, 1_767_225_600)).toBe(false)
    expect(verifyDelivery(newWebhookSecret(), { signature: sig, timestamp: '1767225600' }, body, 1_767_225_600)).toBe(false)
    expect(verifyDelivery(secret, { signature: sig, timestamp: '1767225601' }, body, 1_767_225_600)).toBe(false)
    expect(verifyDelivery(secret, { signature: sig, timestamp: '1767225600' }, body, 1_767_225_600 + 301)).toBe(false)
    expect(verifyDelivery(secret, { signature: undefined, timestamp: '1767225600' }, body, 1_767_225_600)).toBe(false)
    expect(verifyDelivery(secret, { signature: sig, timestamp: 'x' }, body, 1_767_225_600)).toBe(false)
  })

  it("check GitHub's X-Hub-Signature-256 over the raw bytes", () => {
    const raw = Buffer.from('{"zen":"Keep it logically awesome."}')
    const header = `sha256=${createHmac('sha256', 'gh-secret').update(raw).digest('hex')}`
    expect(verifyGithubSignature('gh-secret', header, raw)).toBe(true)
    expect(verifyGithubSignature('other', header, raw)).toBe(false)
    expect(verifyGithubSignature('gh-secret', header.replace('sha256=', 'sha1='), raw)).toBe(false)
    expect(verifyGithubSignature('gh-secret', undefined, raw)).toBe(false)
  })
})
