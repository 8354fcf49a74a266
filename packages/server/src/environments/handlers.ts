/** @module environments/handlers — handlers of the environment, fork and route-metric operations. */
import type { EnvironmentsOpName } from '@tidepool/sdk'
import type { HandlerTable } from '../kit/handler-table.js'
import type { RouteMetrics } from '../router/metrics.js'
import type { EnvironmentService } from './service.js'

/** The services the environments area's handlers use. */
export interface EnvironmentsAreaServices {
  environments: EnvironmentService
  /** The router's counters (main.ts makes one; `running` says whether this server runs the router). */
  routeMetrics: RouteMetrics
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
}
