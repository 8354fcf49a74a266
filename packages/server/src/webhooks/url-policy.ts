/** @module webhooks/url-policy — which URLs a subscription may deliver to (config webhooks.allowedUrls). */
import { AppError } from '../core/errors.js'

/**
 * Refuses a URL that is not http(s) or that starts with none of the allowed prefixes (an empty list allows
 * any). Prefixes are compared against the normalised URL (`new URL().href`), so `HTTPS://Hooks.Example.com`
 * matches `https://hooks.example.com/`.
 */
export function checkDeliveryUrl(url: string, allowed: readonly string[]): void {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new AppError('invalid_request', `url: not a URL (got ${JSON.stringify(url.slice(0, 200))})`)
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new AppError('invalid_request', `url: only http and https URLs can receive webhooks (got ${u.protocol})`)
  if (allowed.length === 0) return
  const href = u.href
  if (!allowed.some((p) => href.startsWith(normalisePrefix(p))))
    throw new AppError('policy_denied', `url ${href} is not allowed by config webhooks.allowedUrls; ask an operator to add its prefix, or use an allowed receiver`, {
      allowedUrls: allowed,
    })
}

function normalisePrefix(p: string): string {
  try {
    return new URL(p).href
  } catch {
    return p
  }
}
