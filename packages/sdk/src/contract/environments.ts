/** @module contract/environments — request-level environments: a baseline of services, forks selected by a routing key. */
import { z } from 'zod'
import { limits, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'

const tags = ['environments']

/** Names that could reach an object prototype where a name becomes a key. */
const reserved = new Set(['constructor', 'prototype'])

/** A DNS label: environment and service names appear in the router's host names. */
const dnsLabel = (what: string, max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[a-z0-9][a-z0-9-]*$/, `${what} are lowercase letters, digits and -, starting with a letter or digit`)
    .refine((s) => !s.endsWith('-') && !s.includes('--'), `${what} neither end with - nor contain --`)
    .refine((s) => !reserved.has(s), `${what} may not be constructor or prototype`)

export const EnvName = dnsLabel('environment names', 40).describe('Environment name, unique on the server (it is part of host names: <service>.<env>.localhost).')
export const ServiceName = dnsLabel('service names', 40).describe('Service name within the environment.')
export const RoutingKey = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'routing keys are lowercase letters, digits and -')
  .refine((s) => !reserved.has(s), 'routing keys may not be constructor or prototype')
  .describe('Routing key: requests carrying it (baggage tidepool-route=<key>, x-tidepool-route, or <key>--<service>.<env>.preview.localhost) reach the forks of this key.')

/** An http(s) URL of a server that answers for a service (its own address, not the routed one). */
export const UpstreamUrl = z
  .string()
  .min(1)
  .max(2048)
  .refine((s) => {
    try {
      const u = new URL(s)
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.username === '' && u.password === '' && u.hostname !== ''
    } catch {
      return false
    }
  }, 'upstream must be an http:// or https:// URL without credentials')
  .describe("The service's own address, e.g. http://127.0.0.1:8081 (http or https, no credentials).")

export const DeclaredResources = z
  .object({
    cpu: z.number().min(0).max(1024).optional().describe('CPUs the service is sized for.'),
    memoryMb: z.number().int().min(0).max(16_777_216).optional().describe('Memory the service is sized for (MiB).'),
  })
  .strict()
  .describe('Resources the service is declared to use (recorded; not enforced on URL upstreams).')

export const ServiceSpec = z.object({ name: ServiceName, upstream: UpstreamUrl, resources: DeclaredResources.optional() }).strict().meta({ id: 'ServiceSpec' })

export const CreateEnvironmentInput = z
  .object({
    name: EnvName,
    services: z
      .array(ServiceSpec)
      .min(1)
      .max(64)
      .refine((list) => new Set(list.map((s) => s.name)).size === list.length, 'service names must be unique within the environment')
      .describe('The baseline: every service of the environment and where it runs.'),
  })
  .strict()
  .meta({ id: 'CreateEnvironmentInput' })

export const EnvRef = z.object({ env: EnvName }).strict()

export const ForkHealth = z.enum(['up', 'down']).describe("up: the fork's upstream accepts TCP connections; down: it does not (requests for its key then get 502).")

export const Fork = z
  .object({
    id: z.string().describe('Fork id (frk_…).'),
    environment: z.string(),
    service: z.string(),
    routingKey: z.string().describe('The key that selects this fork; forks of other services with the same key form its route group.'),
    upstream: z.string().describe("The fork's own address."),
    createdAt: Timestamp,
    expiresAt: Timestamp.optional().describe('When the fork ends (ttlSeconds); the router stops using it then.'),
    health: ForkHealth.optional().describe('Probed when the environment or its forks are read.'),
  })
  .meta({ id: 'Fork' })
export type Fork = z.infer<typeof Fork>

export const RoutedService = z
  .object({
    name: z.string(),
    upstream: z.string().describe('The baseline address.'),
    url: z.string().describe('The routed URL callers use instead of the upstream: http://<service>.<env>.localhost:<router port>.'),
    resources: DeclaredResources.optional(),
  })
  .meta({ id: 'RoutedService' })

export const Environment = z
  .object({
    name: z.string(),
    project: z.string(),
    createdAt: Timestamp,
    services: z.array(RoutedService),
    forks: z.array(Fork),
  })
  .meta({ id: 'Environment' })
export type Environment = z.infer<typeof Environment>

export const EnvironmentPage = page(Environment)
export const ListEnvironmentsInput = z.object({ ...PageInput }).strict()

export const CreateForkInput = z
  .object({
    env: EnvName,
    service: ServiceName.describe('The service this fork replaces for requests carrying its key.'),
    upstream: UpstreamUrl.describe("The fork's own address."),
    routingKey: RoutingKey.optional().describe('Join the route group of this key (or name a new one); generated when absent.'),
    ttlSeconds: z.number().int().min(60).max(2_592_000).optional().describe('The fork ends after this long; none by default.'),
  })
  .strict()
  .meta({ id: 'CreateForkInput' })

export const ForkRef = z.object({ env: EnvName, id: z.string().min(1).max(limits.id) }).strict()

export const RouteMetric = z
  .object({
    service: z.string(),
    target: z.string().describe('baseline, or the routing key of the fork that served.'),
    requests: z.number().int(),
    fallbacks: z.number().int().describe('Requests that carried a key with no fork of this service and went to the baseline.'),
    errors: z.number().int().describe('Requests answered 502 or 504 by the router.'),
    latencyMs: z.object({ p50: z.number(), p99: z.number() }).describe('Time to response headers, over the last 1024 requests.'),
  })
  .meta({ id: 'RouteMetric' })

export const EnvironmentMetrics = z
  .object({ environment: z.string(), routerRunning: z.boolean().describe('false when this server runs no router (counters then stay empty).'), items: z.array(RouteMetric) })
  .meta({ id: 'EnvironmentMetrics' })

export const environmentsOps = {
  createEnvironment: {
    method: 'POST',
    path: '/v1/environments',
    summary: 'Create an environment: a named baseline of services, each reached through the router at services[].url',
    scope: 'sandboxes:write',
    input: CreateEnvironmentInput,
    output: Environment,
    status: 201,
    tags,
  },
  listEnvironments: {
    method: 'GET',
    path: '/v1/environments',
    summary: "The project's environments (paginated)",
    scope: 'sandboxes:read',
    input: ListEnvironmentsInput,
    output: EnvironmentPage,
    tags,
  },
  getEnvironment: {
    method: 'GET',
    path: '/v1/environments/{env}',
    summary: 'One environment with its routed URLs and its forks (with health)',
    scope: 'sandboxes:read',
    input: EnvRef,
    output: Environment,
    tags,
  },
  deleteEnvironment: {
    method: 'DELETE',
    path: '/v1/environments/{env}',
    summary: 'Delete an environment and its forks (idempotent)',
    scope: 'sandboxes:write',
    input: EnvRef,
    output: 'empty',
    status: 204,
    tags,
  },
  createFork: {
    method: 'POST',
    path: '/v1/environments/{env}/forks',
    summary: 'Fork one service: requests carrying the routing key (returned; generated when absent) reach the fork, every other request the baseline',
    scope: 'sandboxes:write',
    input: CreateForkInput,
    output: Fork,
    status: 201,
    tags,
  },
  listForks: {
    method: 'GET',
    path: '/v1/environments/{env}/forks',
    summary: "An environment's forks with their health",
    scope: 'sandboxes:read',
    input: EnvRef,
    output: z.object({ items: z.array(Fork) }),
    tags,
  },
  deleteFork: {
    method: 'DELETE',
    path: '/v1/environments/{env}/forks/{id}',
    summary: 'Remove a fork (idempotent): requests with its key go to the baseline again',
    scope: 'sandboxes:write',
    input: ForkRef,
    output: 'empty',
    status: 204,
    tags,
  },
  getEnvironmentMetrics: {
    method: 'GET',
    path: '/v1/environments/{env}/metrics',
    summary: "The router's per-route counters for an environment: requests, fallbacks, errors, latency",
    scope: 'sandboxes:read',
    input: EnvRef,
    output: EnvironmentMetrics,
    tags,
  },
} as const satisfies Record<string, Operation>
