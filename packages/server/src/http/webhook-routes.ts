/**
 * @module http/webhook-routes — the two routes that carry no bearer token, each authenticated otherwise and
 * each ending in dispatch (so scopes, policy and audit apply as for any call):
 *
 * - `GET|POST /v1/links/remediations?t=…` — a signed approval link (webhooks/links.ts). GET only shows
 *   what the link would do (a link previewer or prefetcher changes nothing); POST applies it as the
 *   identity bound in the link.
 * - `POST /v1/github/webhook` — GitHub's `workflow_run` / `check_suite` deliveries, verified with
 *   X-Hub-Signature-256, create runs as config webhooks.github.runsAs.
 */
import type { Principal } from '@tidepool/sdk'
import type { Context, Hono } from 'hono'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { parseJsonSafely } from '../core/safe-input.js'
import { dispatch } from '../dispatch/dispatch.js'
import type { Services } from '../dispatch/services.js'
import { runOfPayload, runEvents } from '../webhooks/github/incoming.js'
import { linkPath } from '../webhooks/links.js'
import { verifyGithubSignature } from '../webhooks/signing.js'

/** GitHub caps webhook payloads at 25 MB; a workflow_run one is a few KiB. */
const maxGithubBody = 5 * 1024 * 1024

/** The error response of the HTTP shell (http/app.ts hands in its own, so both answer errors alike). */
export type ErrorResponder = (c: Context, err: unknown, requestId: string, svc: Services) => Response

export function mountWebhookRoutes(app: Hono, svc: Services, errorResponse: ErrorResponder): void {
  app.get(linkPath, (c) => withErrors(c, svc, errorResponse, async () => confirmPage(c, svc)))
  app.post(linkPath, (c) => withErrors(c, svc, errorResponse, async (requestId) => applyLink(c, svc, requestId)))
  app.post('/v1/github/webhook', (c) => withErrors(c, svc, errorResponse, async (requestId) => githubWebhook(c, svc, requestId)))
}

async function withErrors(c: Context, svc: Services, errorResponse: ErrorResponder, fn: (requestId: string) => Promise<Response>): Promise<Response> {
  const requestId = newId('req', 12)
  try {
    return await fn(requestId)
  } catch (err) {
    return errorResponse(c, err, requestId, svc)
  }
}

/** GET: what the link decides, and a button that POSTs it. Nothing changes. */
async function confirmPage(c: Context, svc: Services): Promise<Response> {
  const token = c.req.query('t')
  const claims = svc.approvalLinks.verify(token)
  const action = `${linkPath}?t=${encodeURIComponent(token!)}`
  const verb = claims.decision === 'approve' ? 'Approve' : 'Reject'
  const html = `<!doctype html><meta charset="utf-8"><title>${verb} ${esc(claims.remediationId)}</title>
<p>${verb} remediation <code>${esc(claims.remediationId)}</code> of project <code>${esc(claims.project)}</code> as token <code>${esc(claims.tokenId)}</code>?
The link works until ${new Date(claims.expiresAt * 1000).toISOString()}.</p>
<form method="post" action="${esc(action)}"><button type="submit">${verb}</button></form>`
  return c.html(html, 200, { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' })
}

/** POST: the decision, through dispatch, as the identity bound in the link (resolved again now: a revoked token's links stop). */
async function applyLink(c: Context, svc: Services, requestId: string): Promise<Response> {
  const claims = svc.approvalLinks.verify(c.req.query('t'))
  const principal = await svc.tokens.principalById(claims.tokenId)
  if (principal.project !== claims.project && !principal.scopes.includes('admin'))
    throw new AppError('unauthenticated', 'the link was made for another project; ask for a new one', { reason: 'link_invalid' })
  const log = svc.log.child({ requestId, via: 'approval-link' })
  const op = claims.decision === 'approve' ? 'applyRemediation' : 'rejectRemediation'
  const result = await dispatch(op, { id: claims.remediationId, note: `${claims.decision} link` }, { principal: { ...principal, project: claims.project }, requestId, log }, svc)
  return c.json(result as object, 200, { 'x-request-id': requestId, 'cache-control': 'no-store' })
}

async function githubWebhook(c: Context, svc: Services, requestId: string): Promise<Response> {
  const gh = svc.github
  if (!gh) throw new AppError('not_found', 'GitHub webhooks are not enabled on this server (config webhooks.github.enabled)')
  if (!gh.webhookSecret) throw new AppError('runtime_unavailable', 'GitHub webhooks have no secret configured: set the variable config webhooks.github.webhookSecretEnv names')
  const declared = Number(c.req.header('content-length') ?? '0')
  if (declared > maxGithubBody) throw new AppError('payload_too_large', `GitHub payload of ${declared} bytes exceeds ${maxGithubBody}`)
  const body = new Uint8Array(await c.req.arrayBuffer())
  if (body.byteLength > maxGithubBody) throw new AppError('payload_too_large', `GitHub payload exceeds ${maxGithubBody} bytes`)
  if (!verifyGithubSignature(gh.webhookSecret, c.req.header('x-hub-signature-256'), body))
    throw new AppError('unauthenticated', 'X-Hub-Signature-256 is missing or does not match the configured secret', { reason: 'bad_signature' })
  const event = c.req.header('x-github-event') ?? ''
  const headers = { 'x-request-id': requestId }
  if (!runEvents.has(event)) return c.json({ ignored: true, event: event.slice(0, 64) }, 202, headers)
  const inc = runOfPayload(event, parseJsonSafely(Buffer.from(body).toString('utf8'), 'GitHub payload'))
  if (!gh.runsAs) throw new AppError('runtime_unavailable', 'GitHub webhooks have no identity to create runs as: set config webhooks.github.runsAs to a token id with runs:write')
  const principal: Principal = await svc.tokens.principalById(gh.runsAs)
  const log = svc.log.child({ requestId, via: 'github-webhook', delivery: (c.req.header('x-github-delivery') ?? '').slice(0, 64) })
  const run = await dispatch('createRun', inc.run, { principal, requestId, log }, svc)
  await gh.adapter.recordRun(principal.project, inc)
  return c.json({ run, repo: inc.repo }, 201, headers)
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`)
}
