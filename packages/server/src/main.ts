/** @module main — the composition root: builds every service by hand and wires them together. */
import { networkInterfaces } from 'node:os'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { serve } from '@hono/node-server'
import { CreateSandboxInput, type Principal } from '@tidepool/sdk'
import type { Hono } from 'hono'
import { AuditLog } from './audit/audit-log.js'
import { auditPaths } from './audit/config.js'
import { loadOrCreateSigningKey } from './audit/signing-key.js'
import { auditedSystemAction, systemActors } from './audit/system-actor.js'
import { TokenService } from './access/tokens.js'
import { builtinActions } from './actions/catalog.js'
import { ActionService } from './actions/service.js'
import { WorkflowService } from './actions/workflows/service.js'
import { secretFromEnv, storeUrlOf, type Config } from './config.js'
import { systemClock, type Clock } from './core/clock.js'
import { AppError } from './core/errors.js'
import { freezePrototypes } from './core/harden.js'
import { createLogger, type Logger } from './core/log.js'
import { createDataService, type DataService } from './data/service.js'
import { mountE2b } from './e2b/mount.js'
import { EnvironmentService, environmentSubject } from './environments/service.js'
import { createGateService } from './gate/service.js'
import { createHttpApp } from './http/app.js'
import { proxyPortUpgrade } from './http/port-proxy.js'
import { mountMcp, type McpHttpMount, type McpHttpOptions } from './mcp/http-mount.js'
import { createInsightsService } from './insights/service.js'
import type { Runtime } from './runtime/runtime.js'
import { CommandService } from './sandboxes/commands.js'
import { RunService } from './sandboxes/run.js'
import { EventLog } from './kit/events.js'
import { FileService } from './sandboxes/files.js'
import { PortService } from './ports/service.js'
import { PolicyGate } from './policy/gate.js'
import { SandboxService } from './sandboxes/sandboxes.js'
import { insightsSandboxWiring } from './wiring/insights-sandboxes.js'
import { NetworkService } from './network/service.js'
import { dispatch } from './dispatch/dispatch.js'
import { BUILD_SANDBOX_PREFIX } from './templates/plan.js'
import { sandboxBinder } from './dispatch/sandbox-binder.js'
import { createTemplateService, type Services } from './dispatch/services.js'
import { openStore } from './store/db.js'
import { RouteMetrics } from './router/metrics.js'
import { RequestRouter } from './router/router.js'
import { createWebhooksArea } from './webhooks/area.js'
import { publishingInsights } from './webhooks/insights-seam.js'
import { RouteTraces } from './router/traces.js'

/** How often stopped sandboxes past their retention are looked for (the reaper runs every second). */
const PRUNE_INTERVAL_MS = 10 * 60_000

export interface ControlPlane {
  svc: Services
  app: Hono
  /** The MCP Streamable HTTP sessions at /mcp. */
  mcp: McpHttpMount
  /** Set on first start: the admin token, to be printed once. */
  adminToken?: string | undefined
  /** Listens; with BuildOptions.router the request router too (`routerPort`). */
  listen(): Promise<{ url: string; port: number; routerPort?: number }>
  close(): Promise<void>
}

export interface BuildOptions {
  runtime?: Runtime
  clock?: Clock
  logger?: Logger
  /** Run the expiry reaper on an interval (default true). Tests drive it by hand. */
  reaper?: boolean
  /** Where secrets named by the config (e.g. insights.llm.apiKeyEnv) are looked up; the CLI passes process.env. */
  env?: NodeJS.ProcessEnv
  /**
   * Freeze Object/Array/Function (and primitive wrapper) prototypes once everything is loaded and
   * built, so a prototype pollution anywhere throws instead of reaching every object (core/harden.ts).
   * `tidepool up` sets it; tests leave it off (freezing is process-wide).
   */
  freezePrototypes?: boolean
  /** Limits of the MCP HTTP sessions (tests lower them). */
  mcp?: McpHttpOptions
  /** Bench only: false skips the policy evaluation of each call (the scope check stays). */
  policyEvaluation?: boolean
  /** listen() also starts the request router on config.router's address (`tidepool up` sets it). */
  router?: boolean
}

export async function buildControlPlane(config: Config, opts: BuildOptions = {}): Promise<ControlPlane> {
  mkdirSync(config.home, { recursive: true, mode: 0o700 })
  const log = opts.logger ?? createLogger(config.logLevel)
  const clock = opts.clock ?? systemClock
  // First: an invalid policy refuses the start before anything is opened or made.
  let sandboxesForPolicy: SandboxService | undefined
  const policy = new PolicyGate({
    files: config.policy.files.map((f) => resolve(f)),
    actions: [...builtinActions.values()],
    lookup: async (principal, id) => {
      const row = await sandboxesForPolicy?.row(principal, id).catch(() => undefined)
      return row ? { project: row.project, state: row.state, labels: JSON.parse(row.metadata) as Record<string, string> } : undefined
    },
    log: log.child({ area: 'policy' }),
    defaultIsolation: config.runtime.defaultIsolation,
    evaluate: opts.policyEvaluation ?? true,
  })
  const store = await openStore(storeUrlOf(config))
  const tokens = new TokenService(store.db, clock)
  let adminToken: string | undefined
  try {
    // Before anything else touches the home: a token file the store does not know stops the start here.
    adminToken = await tokens.bootstrapAdmin(join(config.home, 'admin.token'))
  } catch (err) {
    await store.close()
    throw err
  }
  const runtime =
    opts.runtime ??
    (await (
      await import('./runtime/create-runtime.js')
    ).createRuntime({
      kind: config.runtime.kind,
      dataDir: join(config.home, 'runtime'),
      cgroupName: config.runtime.cgroupName,
      disk: { ...config.runtime.disk, defaultMb: config.defaults.diskMb },
      network: config.runtime.network,
      gvisor: { ...config.runtime.gvisor, required: config.runtime.defaultIsolation === 'gvisor' },
      logger: log,
    }))
  // The signing key and the signed head live outside the store, so whoever can rewrite the store
  // cannot re-sign it (see README, Audit log).
  const paths = auditPaths(config.home, config.audit)
  const signingKey = loadOrCreateSigningKey(paths.keyFile)
  const audit = new AuditLog(store.db, clock, {
    key: signingKey.key,
    keyCreated: signingKey.created,
    headFile: paths.headFile,
    intervalMs: config.audit.checkpointIntervalMs,
    everyRecords: config.audit.checkpointEveryRecords,
    log,
  })
  try {
    await audit.open()
  } catch (err) {
    await store.close()
    throw err
  }
  const events = new EventLog(store.db, clock)
  const areaDeps = { config, store, clock, log, audit, events, runtime }
  // Egress: every refused attempt also joins the sandbox's event stream (config network.events.publish).
  // The links' gateway address and rules come first: the proxy binds to that address.
  if (config.network.proxy.enabled && runtime.network) await runtime.network.ensure()
  const linked = config.network.proxy.enabled && runtime.network !== undefined && isHostAddress(runtime.network.gatewayIp)
  const network = new NetworkService({
    db: store.db,
    config: linked ? onGateway(config.network, runtime.network!.gatewayIp) : config.network,
    home: config.home,
    clock,
    log: log.child({ area: 'network' }),
    publish: (e) => {
      const { sandboxId, project, call: _call, ...data } = e
      events.emit({ project, sandboxId, kind: `egress_${e.verdict}`, actor: 'egress-proxy', data }).catch((err: unknown) => log.error({ err }, 'network: publishing an egress event failed'))
    },
  })
  // Sandboxes start from templates (the resolver), and a template's delete asks how many live sandboxes use it.
  // Build steps of a template with a network policy get egress through the same proxy.
  const templates = createTemplateService(areaDeps, { liveSandboxesUsing: (project, name) => sandboxes.liveSandboxesUsing(project, name) }, config.network.proxy.enabled ? network.seam() : undefined)
  // The sandboxes area accepts network policies only where the egress proxy enforces them.
  const sandboxes: SandboxService = new SandboxService({ db: store.db, runtime, config, clock, log, events, audit, templates, ...(config.network.proxy.enabled ? { network: network.seam() } : {}) })
  sandboxesForPolicy = sandboxes
  const commands = new CommandService({ runtime, sandboxes, events, config, clock })
  const files = new FileService({ runtime, sandboxes, config })
  const runs = new RunService({ sandboxes, commands, log: log.child({ area: 'runs' }) })
  const svcData = createDataService(areaDeps, { binder: sandboxBinder({ runtime, sandboxes, events }) })
  // Actions run commands through the same command service as the API, as the calling principal.
  const actions = new ActionService({
    // Every action run is the policy's to decide, also one a workflow step runs (dispatch decides the call that started the workflow).
    ...(opts.policyEvaluation !== false && {
      authorise: (principal: Principal, req: { name: string; sandboxId?: string | undefined }) =>
        policy.authorise(principal, 'runAction', { name: req.name, ...(req.sandboxId !== undefined ? { sandboxId: req.sandboxId } : {}) }),
    }),
    sandbox: { exec: (principal, id, req) => commands.run(principal, id, { ...req, user: req.user ?? 'user' }) },
    // db.query reaches clones through the data service, as the caller (a foreign clone is not_found).
    clones: { url: (principal, ref) => cloneUrl(svcData, principal, ref) },
  })
  // Routed URLs name the router's port: the configured one, or the one it bound (port 0 in tests).
  let routerPort = config.router.port
  const systemFor = (project: string) => ({ project, tokenId: 'system:router', name: 'router', scopes: ['sandboxes:read' as const] })
  // The router and the health probe reach a port inside a sandbox the way the ports area does.
  const connectSandbox = async (project: string, id: string, port: number) => runtime.connectPort((await sandboxes.live(systemFor(project), id)).ref, port)
  const environments = new EnvironmentService({
    db: store.db,
    clock,
    log: log.child({ area: 'environments' }),
    routedUrl: (env, service) => `http://${service}.${env}.localhost:${routerPort}`,
    sandboxes: {
      create: async (p, spec) =>
        (
          await sandboxes.create(
            p,
            CreateSandboxInput.parse({ template: spec.template, resources: spec.resources, envs: spec.envs, ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}) }),
          )
        ).id,
      // The service runs as long as the sandbox (its TTL ends both); 24 h is the longest a command may run.
      start: async (p, id, cmd, cwd) => void (await commands.startBackground(p, id, { cmd, ...(cwd !== undefined ? { cwd } : {}), timeoutMs: 86_400_000 })),
      check: async (p, id) => void (await sandboxes.live(p, id)),
      addEnvs: (id, envs) => sandboxes.changeEnvs(id, (old) => ({ ...old, ...envs })),
      destroy: (p, id) => sandboxes.destroy(p, id, 'fork_ended'),
      connect: connectSandbox,
    },
    data: {
      createClone: async (p, mirror, sandbox) => {
        const c = await svcData.createClone(p, { mirror, ...(sandbox ? { sandbox } : {}) })
        return { id: c.id, url: c.url }
      },
      deleteClone: (p, id) => svcData.deleteClone({ ...p, name: 'environments', scopes: ['data:write'] }, id),
    },
    emit: (e) =>
      void events
        .emit({ project: e.project, sandboxId: environmentSubject(e.env), kind: e.kind, actor: e.actor, data: e.data })
        .catch((err: unknown) => log.error({ err, kind: e.kind }, 'environments: recording a routing event failed')),
  })
  const routeMetrics = new RouteMetrics()
  // Webhooks: subscriptions and their durable queue, approval links, the GitHub adapter (secrets from the env vars the config names).
  let apiUrl = `http://${config.host}:${config.port}`
  const hooks = createWebhooksArea({
    db: store.db,
    clock,
    log,
    home: config.home,
    cfg: config.webhooks,
    githubToken: secretFromEnv(opts.env ?? {}, config.webhooks?.github.tokenEnv),
    githubWebhookSecret: secretFromEnv(opts.env ?? {}, config.webhooks?.github.webhookSecretEnv),
    listenUrl: () => apiUrl,
  })
  const routeTraces = new RouteTraces()
  const svc: Services = {
    redispatch: (name, input, ctx) => dispatch(name, input, ctx, svc),
    config,
    environments,
    routeMetrics,
    routeTraces,
    measureSandbox: async (project, id) => {
      const p = systemFor(project)
      try {
        const [sbx, m] = await Promise.all([sandboxes.get(p, id), sandboxes.metrics({ ...p, name: 'environments' }, id)])
        const ageSeconds = Math.max(1, (Date.parse(m.at) - Date.parse(sbx.createdAt)) / 1000)
        return { cpu: m.cpuSeconds / ageSeconds, memoryMb: m.memoryBytes / 1048576 }
      } catch {
        return undefined
      }
    },
    store,
    clock,
    log,
    runtime,
    policy,
    audit,
    events,
    tokens,
    sandboxes,
    commands,
    files,
    runs,
    ports: new PortService({ db: store.db, runtime, sandboxes, clock }),
    ...hooks,
    // Triage summaries and remediation decisions also go out as webhook events (webhooks/insights-seam.ts).
    insights: publishingInsights(
      createInsightsService(areaDeps, {
        // The one policy engine: a policy file can refuse a remediation (the requireApproval rule still holds first).
        policyAsCode: { decide: (req) => policy.decideRemediation(req) },
        // Remediations act on sandboxes through the same service as the API, as a system principal.
        // Remediations act through the sandboxes and data services; runs get their sandboxes' cgroup figures.
        ...insightsSandboxWiring({ sandboxes, audit, log, data: svcData }),
        llmApiKey: secretFromEnv(opts.env ?? {}, config.insights.llm.apiKeyEnv),
      }),
      hooks.webhooks,
      log,
    ),
    data: svcData,
    // The sandbox-first gate rehearses on clones of the data area's mirrors, as the caller; Cedar decides approve/promote.
    gate: createGateService({
      config,
      store,
      clock,
      log,
      audit,
      policy: opts.policyEvaluation !== false ? { decide: (req) => policy.decideGate(req) } : undefined,
      data: {
        mirror: async (p, idOrName) => svcData.getMirror(p, idOrName),
        clone: async (p, mirror, ttlSeconds) => svcData.createClone(p, { mirror, ttlSeconds }),
        dropClone: async (p, id) => {
          await svcData.deleteClone(p, id).catch((err: unknown) => {
            if ((err as { code?: string }).code !== 'not_found') throw err
          })
        },
      },
    }),
    templates,
    network,
    actions,
    // Workflow steps are action runs as the caller; on_failure: snapshot snapshots as the caller too.
    workflows: new WorkflowService({
      db: store.db,
      clock,
      actions: builtinActions,
      runner: actions,
      snapshots: { snapshot: (principal, id, labels) => sandboxes.snapshots.create(principal, id, { labels }) },
    }),
  }
  // Adopted sandboxes' commands too: background ones listed again, foreground ones (caller gone) killed.
  const reconciled = await sandboxes.reconcile(async (sbx) => {
    const found = await commands.adopt(sbx)
    if (found.background + found.killed > 0) log.info({ id: sbx.row.id, ...found }, 'reconcile: accounted for the commands of an adopted sandbox')
  })
  if (reconciled.adopted + reconciled.lost + reconciled.interrupted + reconciled.orphans > 0) log.info(reconciled, 'reconciled sandboxes with the runtime')
  await sandboxes.reapExpired()
  // After the sandboxes' reconcile: an interrupted template build leaves a complete template or none.
  await svc.templates.reconcile()
  // Build sandboxes that reconcile destroyed may have had egress attachments (templates with network).
  await network.forgetPrefix(BUILD_SANDBOX_PREFIX)
  // Warm pools fill in the background once the templates they start from are whole again.
  await sandboxes.pools.configure()
  // What belongs to a sandbox ends with it, however it ends (destroy, TTL, lost after a crash): its
  // background-command records and the clones bound to it.
  events.subscribe((e) => {
    if (e.kind === 'state_changed' && e.data.to === 'stopped') {
      commands.forget(e.sandboxId)
      network.detach(e.sandboxId).catch((err: unknown) => log.error({ err, sandbox: e.sandboxId }, 'network: detaching an ended sandbox failed'))
      svc.ports.forget(e.sandboxId).catch((err: unknown) => log.error({ err, sandbox: e.sandboxId }, 'forgetting the public ports of an ended sandbox failed'))
      svc.data.releaseSandbox(e.project, e.sandboxId).catch((err: unknown) => log.error({ err, sandbox: e.sandboxId }, 'releasing the clones of an ended sandbox failed'))
      // A fork ends with its sandbox: the router sends its key to the baseline from now on.
      environments.forgetSandbox(e.sandboxId).catch((err: unknown) => log.error({ err, sandbox: e.sandboxId }, 'ending the forks of an ended sandbox failed'))
    }
  })
  // Adopts or restarts clones after a restart, reaps orphans, starts the data reaper.
  await svc.data.start({ reaper: opts.reaper !== false })
  // Promotions a crash interrupted: resumed (committed on the target) or left unapplied (not committed), never half-done.
  await svc.gate.recover().catch((err: unknown) => log.error({ err }, 'gate: resolving interrupted promotions failed; they stay promoting until the next start'))
  // The egress proxy (config network.proxy.enabled), serving the sandboxes attached before a restart.
  // With per-sandbox links (runtime.network) the proxy listens on their gateway, the one host address
  // sandboxes reach, and only its two ports pass the runtime's nftables rules.
  await network.start()
  if (linked && network.proxy) await runtime.network!.setEgressPorts([network.proxy.httpPort, network.proxy.socksPort])

  // Pending deliveries left by a previous run are due now: the queue picks them up.
  hooks.webhooks.start()

  let timer: NodeJS.Timeout | undefined
  if (opts.reaper !== false) {
    let running = false
    let pruned = 0 // last time stopped sandboxes were pruned (clock ms)
    const tick = async () => {
      await sandboxes.reapExpired()
      await environments.reapExpired()
      // A resize the feedback loop applied lasts one run, or at most insights.remediation.resizeRestoreMinutes.
      await svc.insights.restoreDueResizes()
      if (clock.now() - pruned < PRUNE_INTERVAL_MS) return
      pruned = clock.now()
      for (let n = await sandboxes.pruneStopped(); n > 0; n = await sandboxes.pruneStopped()) log.info({ deleted: n }, 'retention: deleted stopped sandboxes')
    }
    timer = setInterval(() => {
      if (running) return
      running = true
      tick()
        .catch((err: unknown) => log.error({ err }, 'reaper failed'))
        .finally(() => (running = false))
    }, config.reaperIntervalMs)
    timer.unref()
  }

  const app = createHttpApp(svc)
  // MCP over Streamable HTTP at /mcp: a second shell over the same dispatch.
  const mcp = mountMcp(app, svc, opts.mcp)
  // The E2B-compatible endpoint (REST at the root, envd by E2b-Sandbox-Id): a third shell over dispatch.
  const e2b = mountE2b(app, svc, config.home)
  if (opts.freezePrototypes) log.info({ frozen: freezePrototypes() }, 'prototypes frozen')
  let server: ReturnType<typeof serve> | undefined
  const router = opts.router
    ? new RequestRouter({
        source: environments,
        config: config.router,
        metrics: routeMetrics,
        traces: routeTraces,
        connectSandbox,
        notice: (n) =>
          void events
            .emit({ project: n.project, sandboxId: environmentSubject(n.env), kind: n.kind, actor: 'router', data: n.data })
            .catch((err: unknown) => log.error({ err, kind: n.kind }, 'router: recording a routing event failed')),
        log: log.child({ area: 'router' }),
        verifyToken: (secret) =>
          tokens.authenticate(secret).then(
            () => true,
            () => false,
          ),
      })
    : undefined
  return {
    svc,
    app,
    mcp,
    adminToken,
    listen: async () => {
      const api = await new Promise<{ url: string; port: number }>((resolve, reject) => {
        server = serve({ fetch: app.fetch, hostname: config.host, port: config.port, createServer: e2b.createServer }, (info) => {
          e2b.setPort(info.port)
          apiUrl = `http://${config.host}:${info.port}`
          resolve({ url: apiUrl, port: info.port })
        })
        server.once('error', reject)
        // WebSocket upgrades to a sandbox's port (the fetch shell never sees an upgrade).
        server.on('upgrade', (req, socket, head) => proxyPortUpgrade(svc, req, socket, head))
      })
      if (!router) return api
      routerPort = (await router.listen()).port
      return { ...api, routerPort }
    },
    close: async () => {
      if (timer) clearInterval(timer)
      await router?.close()
      await mcp.close()
      if (server) await new Promise<void>((r) => server!.close(() => r()))
      await runs.flush()
      await hooks.webhooks.close()
      await hooks.github?.adapter.settle()
      await commands.flush()
      await sandboxes.pools.close()
      // Rehearsal clones still being removed go before the data area closes.
      await svc.gate.settle()
      await svc.data.close()
      await network.close()
      // After everything that may still append; signs the final head.
      await audit.close()
      await store.close()
      // A runtime this plane made is this plane's to tidy (one handed in belongs to its caller).
      if (!opts.runtime) await runtime.releaseIdle?.()
    },
  }
}

/** The URL of a clone by id, or of the clone bound to a sandbox (for the db.query action). */
async function cloneUrl(data: DataService, principal: Principal, ref: { cloneId?: string | undefined; sandboxId?: string | undefined }): Promise<string> {
  if (ref.cloneId) return (await data.getClone(principal, ref.cloneId)).url
  for (let page = await data.listClones(principal, { limit: 1000 }); ; page = await data.listClones(principal, { limit: 1000, nextToken: page.nextToken })) {
    const bound = page.items.find((c) => c.sandbox === ref.sandboxId)
    if (bound) return bound.url
    if (!page.nextToken) break
  }
  throw new AppError('not_found', `no clone is bound to sandbox ${ref.sandboxId}; create one with sandboxId, or pass cloneId`)
}

/**
 * The network config as the proxy runs it with per-sandbox links: bound to their gateway address on fixed
 * ports (3128 HTTP, 1080 SOCKS unless configured), because sandboxes keep the proxy URLs of their env
 * across a restart of the control plane.
 */
function onGateway(c: Config['network'], gatewayIp: string): Config['network'] {
  return { ...c, proxy: { ...c.proxy, host: gatewayIp, httpPort: c.proxy.httpPort || 3128, socksPort: c.proxy.socksPort || 1080 } }
}

/** The address is one of this host's (a runtime's gateway is, once installed; a fake runtime's is not). */
function isHostAddress(ip: string): boolean {
  return Object.values(networkInterfaces()).some((list) => list?.some((a) => a.address === ip))
}
