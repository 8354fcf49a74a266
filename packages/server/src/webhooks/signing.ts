/**
 * @module webhooks/signing — HMAC-SHA256 signatures of outgoing deliveries and checks of incoming GitHub ones.
 *
 * Outgoing: `X-Tidepool-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with the Unix
 * seconds of `X-Tidepool-Timestamp`; the timestamp inside the signed text stops a replay with a new
 * timestamp, and the receiver refuses old timestamps (README, Webhooks).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export const signatureHeader = 'x-tidepool-signature'
export const timestampHeader = 'x-tidepool-timestamp'
export const eventHeader = 'x-tidepool-event'
export const deliveryHeader = 'x-tidepool-delivery'

export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`
}

/** The value of X-Tidepool-Signature for `body` sent at `timestamp` (Unix seconds). */
export function signDelivery(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`
}

/** The receiver's check: the signature matches and the timestamp is within `toleranceS` of `nowS`. */
export function verifyDelivery(secret: string, h: { signature: string | undefined; timestamp: string | undefined }, body: string, nowS: number, toleranceS = 300): boolean {
  if (!h.signature || !h.timestamp || !/^\d{1,12}$/.test(h.timestamp)) return false
  const ts = Number(h.timestamp)
  if (Math.abs(nowS - ts) > toleranceS) return false
  return sameText(signDelivery(secret, ts, body), h.signature)
}

/** GitHub's X-Hub-Signature-256 (`sha256=<hex HMAC-SHA256(secret, raw body)>`), compared in constant time. */
export function verifyGithubSignature(secret: string, header: string | undefined, body: Uint8Array): boolean {
  if (!header) return false
  return sameText(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`, header)
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
