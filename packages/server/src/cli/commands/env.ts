/** @module cli/commands/env — `tidepool env …` (environments and forks) and `tidepool router` (the request router as a sidecar). */
import type { Client, Environment, Fork } from '@tidepool/sdk'
import type { Config } from '../../config.js'
import type { RouteEnvironment, RouteUpstream } from '../../router/router.js'
import type { CliCommand } from '../command.js'

const json = { json: { type: 'boolean' as const } }

const forkLine = (f: Fork) => `${f.id}  ${f.service}  key=${f.routingKey}  ${f.upstream}${f.health ? `  ${f.health}` : ''}${f.expiresAt ? `  until ${f.expiresAt}` : ''}`
const envText = (e: Environment) =>
  [
    `${e.name} (project ${e.project}, created ${e.createdAt})`,
    ...e.services.map((s) => `  ${s.name}  ${s.url}  → ${s.upstream}`),
    ...(e.forks.length ? ['forks:', ...e.forks.map((f) => `  ${forkLine(f)}`)] : []),
  ].join('\n')

type ServiceArg = { name: string; upstream?: string; sandbox?: string; port?: number; protocol?: 'h2c' }

/** `name=url` or `name=sandbox:<id>:<port>` pairs of --service; --h2c names the services that speak HTTP/2 by prior knowledge. */
function servicesOf(values: unknown, h2c: unknown): ServiceArg[] {
  const list = Array.isArray(values) ? values.map(String) : []
  const h2 = new Set(Array.isArray(h2c) ? h2c.map(String) : [])
  if (list.length === 0) throw new Error('name at least one service: --service <name>=<url> (repeat for each)')
  return list.map((s) => {
    const eq = s.indexOf('=')
    if (eq <= 0) throw new Error(`--service takes <name>=<url> or <name>=sandbox:<id>:<port> (got ${JSON.stringify(s)})`)
    const name = s.slice(0, eq)
    const where = s.slice(eq + 1)
    const parts = where.split(':')
    const svc: ServiceArg = parts[0] === 'sandbox' && parts.length === 3 ? { name, sandbox: parts[1]!, port: Number(parts[2]) } : { name, upstream: where }
    if (h2.has(name)) svc.protocol = 'h2c'
    return svc
  })
}

const traceText = (t: { items: { traceId: string; key?: string | undefined; hops: { at: string; service: string; target: string; status: number; ms: number; fallback: boolean }[] }[] }) =>
  t.items
    .map((tr) =>
      [
        `trace ${tr.traceId}${tr.key ? `  key=${tr.key}` : ''}`,
        ...tr.hops.map((h) => `  ${h.at}  ${h.service}@${h.target}  ${h.status}  ${h.ms} ms${h.fallback ? '  (fallback: no fork of this service for the key)' : ''}`),
      ].join('\n'),
    )
    .join('\n') || 'no traces (send requests through the routed URLs; the router keeps the newest 1000 per environment)'

export function envCommands(config: () => Config): CliCommand[] {
  return [
    {
      words: ['env', 'create'],
      summary: 'Create an environment from a baseline of services; prints their routed URLs',
      usage: '<name> --service <name>=<url>|<name>=sandbox:<id>:<port> [--service …] [--h2c <name>] [--json]',
      options: { ...json, service: { type: 'string', multiple: true }, h2c: { type: 'string', multiple: true } },
      async run({ positionals, values, api, io }) {
        const [name] = positionals
        if (!name) throw new Error('usage: tidepool env create <name> --service <name>=<url> [--service …]')
        const e = await (await api()).createEnvironment({ name, services: servicesOf(values.service, values.h2c) })
        io.print(e, () => envText(e))
        return 0
      },
    },
    {
      words: ['env', 'get'],
      summary: 'Show an environment: routed URLs, baseline upstreams, forks with their health',
      usage: '<name> [--json]',
      options: json,
      async run({ positionals, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env get <name>')
        const e = await (await api()).getEnvironment({ env: positionals[0] })
        io.print(e, () => envText(e))
        return 0
      },
    },
    {
      words: ['env', 'ls'],
      summary: "List the project's environments",
      usage: '[--limit N] [--next-token T] [--json]',
      options: { ...json, limit: { type: 'string' }, 'next-token': { type: 'string' } },
      async run({ values, api, io }) {
        const page = await (
          await api()
        ).listEnvironments({
          ...(values.limit ? { limit: Number(values.limit) } : {}),
          ...(values['next-token'] ? { nextToken: String(values['next-token']) } : {}),
        })
        io.print(page, () =>
          [...page.items.map((e) => `${e.name}  ${e.services.length} services  ${e.forks.length} forks`), ...(page.nextToken ? [`more: --next-token ${page.nextToken}`] : [])].join('\n'),
        )
        return 0
      },
    },
    {
      words: ['env', 'rm'],
      summary: 'Delete an environment and its forks (idempotent)',
      usage: '<name>',
      options: json,
      async run({ positionals, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env rm <name>')
        await (await api()).deleteEnvironment({ env: positionals[0] })
        io.print({ deleted: positionals[0] }, () => `deleted ${positionals[0]}`)
        return 0
      },
    },
    {
      words: ['env', 'fork'],
      summary:
        'Fork one service: requests with the printed routing key reach the fork (a URL, --sandbox ID --port N, or --launch CMD --port N: a new sandbox with TIDEPOOL_ROUTING_KEY), all others the baseline (--key joins a route group; --mirror gives it its own clone)',
      usage: '<env> <service> [<url> | --sandbox ID --port N | --launch CMD --port N [--template T]] [--h2c] [--mirror M] [--key K] [--ttl SECONDS] [--json]',
      options: {
        ...json,
        key: { type: 'string' },
        ttl: { type: 'string' },
        sandbox: { type: 'string' },
        port: { type: 'string' },
        launch: { type: 'string' },
        template: { type: 'string' },
        h2c: { type: 'boolean' },
        mirror: { type: 'string' },
      },
      async run({ positionals, values, api, io }) {
        const [env, service, upstream] = positionals
        if (!env || !service || (!upstream && !values.sandbox && !values.launch))
          throw new Error('usage: tidepool env fork <env> <service> <url> | --sandbox ID --port N | --launch CMD --port N [--key K] [--ttl SECONDS]')
        const f = await (
          await api()
        ).createFork({
          env,
          service,
          ...(upstream ? { upstream } : {}),
          ...(values.sandbox ? { sandbox: String(values.sandbox) } : {}),
          ...(values.port !== undefined ? { port: Number(values.port) } : {}),
          ...(values.launch ? { launch: { cmd: String(values.launch), ...(values.template ? { template: String(values.template) } : {}) } } : {}),
          ...(values.h2c ? { protocol: 'h2c' as const } : {}),
          ...(values.mirror ? { database: { mirror: String(values.mirror) } } : {}),
          ...(values.key ? { routingKey: String(values.key) } : {}),
          ...(values.ttl ? { ttlSeconds: Number(values.ttl) } : {}),
        })
        io.print(f, () => `${forkLine(f)}\nsend: baggage: tidepool-route=${f.routingKey}  (or x-tidepool-route: ${f.routingKey})`)
        return 0
      },
    },
    {
      words: ['env', 'forks'],
      summary: "List an environment's forks with their health",
      usage: '<env> [--json]',
      options: json,
      async run({ positionals, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env forks <env>')
        const list = await (await api()).listForks({ env: positionals[0] })
        io.print(list, () => list.items.map(forkLine).join('\n') || 'no forks')
        return 0
      },
    },
    {
      words: ['env', 'unfork'],
      summary: 'Remove a fork (idempotent)',
      usage: '<env> <fork id>',
      options: json,
      async run({ positionals, api, io }) {
        const [env, id] = positionals
        if (!env || !id) throw new Error('usage: tidepool env unfork <env> <fork id>')
        await (await api()).deleteFork({ env, id })
        io.print({ deleted: id }, () => `deleted ${id}`)
        return 0
      },
    },
    {
      words: ['env', 'trace'],
      summary: 'Which version (baseline or fork) served each hop of recent requests, by trace id (newest first)',
      usage: '<env> [--key K] [--trace TRACE_ID] [--limit N] [--json]',
      options: { ...json, key: { type: 'string' }, trace: { type: 'string' }, limit: { type: 'string' } },
      async run({ positionals, values, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env trace <env> [--key K] [--trace TRACE_ID]')
        const t = await (
          await api()
        ).getEnvironmentTrace({
          env: positionals[0],
          ...(values.key ? { key: String(values.key) } : {}),
          ...(values.trace ? { traceId: String(values.trace) } : {}),
          ...(values.limit ? { limit: Number(values.limit) } : {}),
        })
        io.print(t, () => (t.routerRunning ? traceText(t) : `the server runs no router (tidepool up starts one)\n${traceText(t)}`))
        return 0
      },
    },
    {
      words: ['env', 'cost'],
      summary: 'Resources of the forked services vs a full copy of the environment (declared and measured), and how many of each the box holds',
      usage: '<env> [--json]',
      options: json,
      async run({ positionals, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env cost <env>')
        const c = await (await api()).getEnvironmentCost({ env: positionals[0] })
        const u = (x: { cpu: number; memoryMb: number }) => `${x.cpu} CPU, ${x.memoryMb} MiB`
        io.print(c, () =>
          [
            ...c.services.map((s) => `  ${s.service}  ${u(s.used)}${s.measured ? '  (measured)' : s.declared ? '  (declared)' : '  (no figure)'}  forks=${s.forks}`),
            `full copy: ${u(c.fullCopy)}`,
            `one fork:  ${u(c.perFork)}  (${c.savingPercent} % less)`,
            `this box (${u(c.box)}) holds beside the baseline: ${c.concurrent.fullCopies} full copies, or ${c.concurrent.forks} forks`,
            ...c.notes.map((n) => `note: ${n}`),
          ].join('\n'),
        )
        return 0
      },
    },
    {
      words: ['env', 'events'],
      summary: 'Routing events of an environment: forks added and removed, fallbacks, upstream errors',
      usage: '<env> [--limit N] [--next-token T] [--json]',
      options: { ...json, limit: { type: 'string' }, 'next-token': { type: 'string' } },
      async run({ positionals, values, api, io }) {
        if (!positionals[0]) throw new Error('usage: tidepool env events <env>')
        const page = await (
          await api()
        ).listEnvironmentEvents({
          env: positionals[0],
          ...(values.limit ? { limit: Number(values.limit) } : {}),
          ...(values['next-token'] ? { nextToken: String(values['next-token']) } : {}),
        })
        io.print(
          page,
          () => [...page.items.map((e) => `${e.at}  ${e.kind}  ${e.actor}  ${JSON.stringify(e.data)}`), ...(page.nextToken ? [`more: --next-token ${page.nextToken}`] : [])].join('\n') || 'no events',
        )
        return 0
      },
    },
    {
      words: ['router'],
      summary: "Run the request router alone (a sidecar): it reads the token's environments from the API every second",
      usage: '[--port N] [--host ADDR]',
      options: { port: { type: 'string' }, host: { type: 'string' } },
      async run({ values, api, io }) {
        const cfg = config().router
        const client = await api()
        const { RequestRouter } = await import('../../router/router.js')
        const { RouteMetrics } = await import('../../router/metrics.js')
        const { createLogger } = await import('../../core/log.js')
        const source = polledSource(client)
        await source.refresh()
        const router = new RequestRouter({ source, config: cfg, metrics: new RouteMetrics(), log: createLogger(config().logLevel).child({ area: 'router' }) })
        const { url } = await router.listen(values.port !== undefined ? Number(values.port) : cfg.port, values.host !== undefined ? String(values.host) : cfg.host)
        io.info(`tidepool router on ${url} (routes from ${client.baseUrl}, refreshed every second)`)
        const timer = setInterval(() => void source.refresh().catch((err: unknown) => io.info(`router: reading environments failed: ${(err as Error).message}`)), 1000)
        const stop = async () => {
          clearInterval(timer)
          await router.close()
          process.exit(0)
        }
        process.once('SIGINT', () => void stop())
        process.once('SIGTERM', () => void stop())
        await new Promise(() => {})
        return 0
      },
    },
  ]
}

/** The routing table from the API (every page of listEnvironments), re-read on refresh(); listeners hear of changes. */
function polledSource(client: Client) {
  let table = new Map<string, RouteEnvironment>()
  let last = ''
  const listeners = new Set<() => void>()
  return {
    routeTable: async () => table,
    onChange: (fn: () => void) => {
      listeners.add(fn)
      return () => void listeners.delete(fn)
    },
    async refresh(): Promise<void> {
      const envs: Environment[] = []
      for (let page = await client.listEnvironments({ limit: 1000 }); ; page = await client.listEnvironments({ limit: 1000, nextToken: page.nextToken })) {
        envs.push(...page.items)
        if (!page.nextToken) break
      }
      const text = JSON.stringify(envs.map((e) => [e.name, e.services.map((s) => [s.name, s.upstream, s.protocol]), e.forks.map((f) => [f.service, f.routingKey, f.upstream, f.protocol])]))
      if (text === last) return
      last = text
      const next = new Map<string, RouteEnvironment>()
      // Sandbox upstreams (sandbox:<id>:<port>) need the runtime's connection into the sandbox: the sidecar answers them 502.
      const upstreamOf = (u: { upstream: string; sandbox?: string | undefined; port?: number | undefined; protocol?: 'http1' | 'h2c' | undefined }): RouteUpstream => ({
        ...(u.sandbox ? { sandbox: u.sandbox, port: u.port } : { url: u.upstream }),
        ...(u.protocol ? { protocol: u.protocol } : {}),
      })
      for (const e of envs) {
        const services = new Map(e.services.map((s) => [s.name, { baseline: upstreamOf(s), forks: new Map<string, RouteUpstream>() }]))
        for (const f of e.forks) services.get(f.service)?.forks.set(f.routingKey, upstreamOf(f))
        next.set(e.name, { name: e.name, project: e.project, services })
      }
      table = next
      for (const fn of listeners) fn()
    },
  }
}
