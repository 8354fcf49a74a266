/**
 * @module e2b/rest-snapshots — E2B's snapshot and fork paths over tidepool's snapshots: `createSnapshot`
 * (a snapshot's E2B name is its `e2b.name` label), `Sandbox.list snapshots` with X-Next-Token,
 * `deleteSnapshot` (E2B deletes a snapshot as a template), and `fork` with a count.
 */
import type { OpOutput, Principal } from '@tidepool/sdk'
import type { Context } from 'hono'
import { AppError } from '../core/errors.js'
import type { Services } from '../dispatch/services.js'
import { call } from './call.js'
import { created, timeoutMsOf } from './shape.js'

type Sandbox = OpOutput<'getSandbox'>
type Snapshot = OpOutput<'getSnapshot'>
type Route = (c: Context, p: Principal) => Promise<Response>

/** The label a snapshot's E2B name is kept in. */
export const NAME_LABEL = 'e2b.name'
const SNAPSHOT_ID = /^snap_[a-z0-9]{6,40}$/

export interface SnapshotRoutes {
  on(method: string, path: string, route: Route): void
  get(p: Principal, id: string): Promise<Sandbox>
  access(s: Sandbox, p: Principal): { envdAccessToken: string; domain: string }
  body(c: Context): Promise<Record<string, unknown>>
  defaultTimeoutMs: number
}

/** True when an E2B templateID names a tidepool snapshot (Sandbox.create(snapshotId)). */
export function isSnapshotId(templateID: string | undefined): templateID is string {
  return templateID !== undefined && SNAPSHOT_ID.test(templateID)
}

export function mountE2bSnapshots(svc: Services, r: SnapshotRoutes): void {
  const shown = (s: Snapshot) => ({ snapshotID: s.id, names: s.labels[NAME_LABEL] ? [s.labels[NAME_LABEL]] : [] })
  r.on('POST', '/sandboxes/:id/snapshots', async (c, p) => {
    const b = await r.body(c)
    const s = await r.get(p, c.req.param('id')!)
    if (b.name !== undefined && (typeof b.name !== 'string' || b.name.length < 1 || b.name.length > 256))
      throw new AppError('invalid_request', `name must be a string of 1 to 256 characters (got ${JSON.stringify(b.name).slice(0, 64)})`)
    const snap = await call(svc, p, 'createSnapshot', { id: s.id, labels: typeof b.name === 'string' ? { [NAME_LABEL]: b.name } : {} })
    return c.json(shown(snap), 201)
  })
  r.on('GET', '/snapshots', async (c, p) => {
    const sandboxId = c.req.query('sandboxID')
    const name = c.req.query('name')
    const limit = c.req.query('limit')
    const nextToken = c.req.query('nextToken')
    const page = await call(svc, p, 'listSnapshots', {
      ...(sandboxId ? { sandboxId } : {}),
      ...(name ? { labels: { [NAME_LABEL]: name } } : {}),
      ...(limit ? { limit: Number(limit) } : {}),
      ...(nextToken ? { nextToken } : {}),
    })
    return c.json(page.items.map(shown), 200, page.nextToken ? { 'x-next-token': page.nextToken } : {})
  })
  // E2B deletes a snapshot through its template path; a template id that is no snapshot is not ours to delete.
  r.on('DELETE', '/templates/:id', async (c, p) => {
    const id = c.req.param('id')!
    if (!isSnapshotId(id)) throw new AppError('not_found', `template ${id} not found (tidepool deletes only snapshots here; templates are managed with tidepool templates)`)
    await call(svc, p, 'getSnapshot', { id })
    await call(svc, p, 'deleteSnapshot', { id })
    return c.body(null, 204)
  })
  r.on('POST', '/sandboxes/:id/fork', async (c, p) => {
    const b = await r.body(c)
    const parent = await r.get(p, c.req.param('id')!)
    const count = b.count === undefined ? 1 : b.count
    if (typeof count !== 'number') throw new AppError('invalid_request', `count must be a number (got ${JSON.stringify(count).slice(0, 64)})`)
    const timeoutMs = timeoutMsOf(b.timeout, r.defaultTimeoutMs)
    const fork = await call(svc, p, 'forkSandbox', { id: parent.id, count })
    const results = []
    for (const s of fork.items) {
      const child = await call(svc, p, 'patchSandbox', { id: s.id, timeoutMs })
      results.push({ sandbox: created(child, r.access(child, p)) })
    }
    return c.json(results, 201)
  })
}
