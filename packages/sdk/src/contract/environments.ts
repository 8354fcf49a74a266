/** @module contract/environments — request-level environments: a baseline of services, forks selected by a routing key. */
import { z } from 'zod'
import { SandboxEventPage } from './audit.js'
import { Envs, limits, Name, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'
import { Resources, SandboxId } from './sandbox.js'

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

export const UpstreamProtocol = z
  .enum(['http1', 'h2c'])
  .describe('http1 (default): HTTP/1.1 with keep-alive pools. h2c: HTTP/2 without TLS by prior knowledge (gRPC servers); the router speaks HTTP/2 to it and relays trailers.')

export const ServicePort = z.number().int().min(1).max(65_535).describe('The port inside the sandbox the service listens on (127.0.0.1 inside is enough).')

/** Where a service (or a fork) answers: a URL, or a port inside a sandbox of the project. */
const upstreamFields = {
  upstream: UpstreamUrl.optional(),
  sandbox: SandboxId.optional().describe("A sandbox of the project the service runs in (with port); the router reaches it through the runtime's connection into the sandbox, like the ports area."),
  port: ServicePort.optional(),
  protocol: UpstreamProtocol.optional(),
}
type UpstreamFields = { upstream?: string | undefined; sandbox?: string | undefined; port?: number | undefined }
const oneUpstream = (allowLaunch: boolean) => (v: UpstreamFields & { launch?: unknown }) => {
  const launched = allowLaunch && v.launch !== undefined
  const n = Number(v.upstream !== undefined) + Number(v.sandbox !== undefined) + Number(launched)
  return n === 1 && (v.sandbox !== undefined || launched ? v.port !== undefined : v.port === undefined)
}
const oneUpstreamMessage = (what: string, launch = false) =>
  `${what} takes exactly one of upstream (a URL), sandbox + port${launch ? ', or launch + port (a sandbox the fork starts)' : ''}; port goes only with sandbox${launch ? ' or launch' : ''}`

export const ServiceSpec = z
  .object({ name: ServiceName, ...upstreamFields, resources: DeclaredResources.optional() })
  .strict()
  .refine(oneUpstream(false), oneUpstreamMessage('a service'))
  .meta({ id: 'ServiceSpec' })

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
    upstream: z.string().describe("The fork's own address (sandbox:<id>:<port> for a fork in a sandbox)."),
    sandbox: z.string().optional().describe('The sandbox the fork runs in; the fork ends when the sandbox does.'),
    port: z.number().int().optional(),
    protocol: UpstreamProtocol.optional(),
    ownsSandbox: z.boolean().optional().describe('true: the fork started this sandbox (launch) and deleting the fork destroys it.'),
    database: z
      .object({ clone: z.string().describe('Clone id (dcl_…), deleted with the fork.'), url: z.string().describe("The clone's connection URL (DATABASE_URL of the fork's sandbox).") })
      .optional()
      .describe("The fork's own database clone: a key selects its data too."),
    createdAt: Timestamp,
    expiresAt: Timestamp.optional().describe('When the fork ends (ttlSeconds); the router stops using it then.'),
    health: ForkHealth.optional().describe('Probed when the environment or its forks are read.'),
  })
  .meta({ id: 'Fork' })
export type Fork = z.infer<typeof Fork>

export const RoutedService = z
  .object({
    name: z.string(),
    upstream: z.string().describe('The baseline address (sandbox:<id>:<port> for a service in a sandbox).'),
    sandbox: z.string().optional(),
    port: z.number().int().optional(),
    protocol: UpstreamProtocol.optional(),
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

export const ForkLaunch = z
  .object({
    template: Name.default('default').describe('Template of the sandbox the fork starts.'),
    resources: Resources.partial().default({}),
    envs: Envs.default({}).describe('Env of the sandbox; TIDEPOOL_ROUTING_KEY (and DATABASE_URL with database) are added.'),
    cmd: z.union([z.array(z.string().max(4096)).min(1).max(256), z.string().min(1).max(16_384)]).describe('The service, started in the background once the sandbox runs; it listens on port.'),
    cwd: z.string().max(limits.path).optional(),
    timeoutMs: z.number().int().min(1000).max(86_400_000).optional().describe("TTL of the sandbox (default: the fork's ttlSeconds, else the sandbox default)."),
  })
  .strict()
  .meta({ id: 'ForkLaunch' })

export const CreateForkInput = z
  .object({
    env: EnvName,
    service: ServiceName.describe('The service this fork replaces for requests carrying its key.'),
    ...upstreamFields,
    launch: ForkLaunch.optional().describe('Start the fork in a new sandbox of its own (with port): created with TIDEPOOL_ROUTING_KEY in its env, destroyed with the fork.'),
    database: z
      .object({ mirror: z.string().min(1).max(limits.id).describe('Mirror id or name to clone.') })
      .strict()
      .optional()
      .describe("Give the fork its own clone of a mirror (bound to the fork's sandbox as DATABASE_URL when it has one); deleted with the fork."),
    routingKey: RoutingKey.optional().describe('Join the route group of this key (or name a new one); generated when absent.'),
    ttlSeconds: z.number().int().min(60).max(2_592_000).optional().describe('The fork ends after this long; none by default.'),
  })
  .strict()
  .refine(oneUpstream(true), oneUpstreamMessage('a fork', true))
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

export const TraceHop = z
  .object({
    at: Timestamp,
    service: z.string(),
    target: z.string().describe('baseline, or the key of the fork that served this hop.'),
    key: z.string().optional().describe('The routing key the request carried (absent: none).'),
    status: z.number().int().describe('Status the router answered (502/504 are its own).'),
    ms: z.number().describe('Time to response headers.'),
    fallback: z.boolean(),
  })
  .meta({ id: 'TraceHop' })

export const RequestTrace = z.object({ traceId: z.string(), key: z.string().optional(), hops: z.array(TraceHop) }).meta({ id: 'RequestTrace' })

export const TraceInput = z
  .object({
    env: EnvName,
    key: RoutingKey.optional().describe('Only requests that carried this routing key.'),
    traceId: z
      .string()
      .max(32)
      .regex(/^[0-9a-f]{32}$/, 'trace ids are 32 lowercase hex digits')
      .optional()
      .describe('One trace (the trace-id of traceparent).'),
    limit: z.coerce.number().int().min(1).max(100).default(10),
  })
  .strict()

export const EnvironmentTraces = z
  .object({ environment: z.string(), routerRunning: z.boolean(), items: z.array(RequestTrace).describe('Newest first; hops in the order the router saw them.') })
  .meta({ id: 'EnvironmentTraces' })

const Usage = z.object({ cpu: z.number().describe('CPUs.'), memoryMb: z.number().describe('MiB.') })

export const ServiceCost = z
  .object({
    service: z.string(),
    forks: z.number().int().describe('Forks of this service (all keys).'),
    declared: Usage.partial().optional().describe('Declared resources of the baseline.'),
    measured: Usage.partial().optional().describe("Measured in the baseline's sandbox (cgroup: memory now, CPU averaged since start); absent for URL upstreams."),
    used: Usage.describe('What the comparison counts: measured where there is a figure, else declared, else 0.'),
  })
  .meta({ id: 'ServiceCost' })

export const EnvironmentCost = z
  .object({
    environment: z.string(),
    services: z.array(ServiceCost),
    fullCopy: Usage.describe('One full copy of the environment: every service.'),
    perFork: Usage.describe('One route group as forked today: the services forked under the key with the most forks (at least one service, the largest, when nothing is forked).'),
    savingPercent: z.number().describe('1 − perFork / fullCopy in percent (the mean over CPU and memory, of the axes with figures).'),
    box: Usage.describe("This host's CPUs and memory."),
    concurrent: z
      .object({ fullCopies: z.number().int(), forks: z.number().int() })
      .describe('How many of each the box holds at once beside the shared baseline (box − fullCopy): the scarcer of CPU and memory decides; an axis with no figure does not limit.'),
    notes: z.array(z.string()).describe('What the figures rest on (services without any figure, …).'),
  })
  .meta({ id: 'EnvironmentCost' })

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
  getEnvironmentTrace: {
    method: 'GET',
    path: '/v1/environments/{env}/trace',
    summary: 'Which version (baseline or fork) served each hop of recent requests, by trace id (traceparent), newest first',
    scope: 'sandboxes:read',
    input: TraceInput,
    output: EnvironmentTraces,
    tags,
  },
  getEnvironmentCost: {
    method: 'GET',
    path: '/v1/environments/{env}/cost',
    summary: 'Resources of the forked services vs a full copy of the environment (declared and measured), and how many of each the box holds',
    scope: 'sandboxes:read',
    input: EnvRef,
    output: EnvironmentCost,
    tags,
  },
  listEnvironmentEvents: {
    method: 'GET',
    path: '/v1/environments/{env}/events',
    summary: 'Routing events of an environment: forks added and removed, fallbacks, upstream errors (oldest first, paginated)',
    scope: 'sandboxes:read',
    input: EnvRef.extend({ ...PageInput }),
    output: SandboxEventPage,
    tags,
  },
} as const satisfies Record<string, Operation>
