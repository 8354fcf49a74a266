/** @module environments/handlers — handlers of the environment, fork, route-metric, trace, cost and event operations. */
import { cpus, totalmem } from 'node:os'
import type { EnvironmentsOpName } from '@tidepool/sdk'
import { decodeCursor } from '../kit/cursor.js'
import type { EventLog } from '../kit/events.js'
import type { HandlerTable } from '../kit/handler-table.js'
import { pageOf } from '../kit/page.js'
import type { RouteMetrics } from '../router/metrics.js'
import type { RouteTraces } from '../router/traces.js'
import { environmentCost, type Measure } from './cost.js'
import { environmentSubject, type EnvironmentService } from './service.js'

/** The services the environments area's handlers use. */
export interface EnvironmentsAreaServices {
  environments: EnvironmentService
  /** The router's counters (main.ts makes one; `running` says whether this server runs the router). */
  routeMetrics: RouteMetrics
  /** The router's per-request hops (shared with the router main.ts starts). */
  routeTraces: RouteTraces
  events: EventLog
  /** Measured usage of a sandbox of the project (cgroup figures), for env cost. */
  measureSandbox: (project: string, sandboxId: string) => Promise<{ cpu: number; memoryMb: number } | undefined>
}

export const environmentsHandlers: HandlerTable<EnvironmentsOpName, EnvironmentsAreaServices> = {
  createEnvironment: async (i, ctx, svc) => svc.environments.create(ctx.principal, i),
  listEnvironments: async (i, ctx, svc) => svc.environments.list(ctx.principal, i),
  getEnvironment: async (i, ctx, svc) => svc.environments.get(ctx.principal, i.env),
  deleteEnvironment: async (i, ctx, svc) => svc.environments.delete(ctx.principal, i.env),
  createFork: async (i, ctx, svc) => svc.environments.createFork(ctx.principal, i),
  listForks: async (i, ctx, svc) => svc.environments.listForks(ctx.principal, i.env),
  deleteFork: async (i, ctx, svc) => svc.environments.deleteFork(ctx.principal, i.env, i.id),
  getEnvironmentMetrics: async (i, ctx, svc) => {
    await svc.environments.get(ctx.principal, i.env) // scoping: 404 for a foreign environment
    return { environment: i.env, routerRunning: svc.routeMetrics.running, items: svc.routeMetrics.of(i.env) }
  },
  getEnvironmentTrace: async (i, ctx, svc) => {
    await svc.environments.get(ctx.principal, i.env)
    return { environment: i.env, routerRunning: svc.routeMetrics.running, items: svc.routeTraces.query(i.env, i) }
  },
  getEnvironmentCost: async (i, ctx, svc) => {
    const env = await svc.environments.get(ctx.principal, i.env)
    const measure: Measure = (id) => svc.measureSandbox(ctx.principal.project, id)
    return environmentCost(env, measure, { cpu: cpus().length, memoryMb: totalmem() / 1048576 })
  },
  listEnvironmentEvents: async (i, ctx, svc) => {
    await svc.environments.get(ctx.principal, i.env)
    const after = decodeCursor(i.nextToken)
    const items = await svc.events.list({ sandboxId: environmentSubject(i.env), afterSeq: after ? Number(after) : undefined, limit: i.limit + 1 })
    return pageOf(items, i.limit, (e) => String(e.seq))
  },
}
