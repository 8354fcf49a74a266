/** @module config — the one config schema and the one reader of process.env. */
import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { AuditConfig } from './audit/config.js'
import { AppError } from './core/errors.js'
import { isUnsafeKey, safeCopy } from './core/safe-input.js'
import { DataConfig } from './data/config.js'
import { InsightsConfig } from './insights/config.js'
import { NetworkConfig } from './network/config.js'
import { PolicyConfig } from './policy/config.js'
import { RouterConfig } from './router/config.js'
import { SnapshotConfig, WarmPoolConfig } from './sandboxes/config.js'
import { TemplatesConfig } from './templates/config.js'

const quotaFields = {
  sandboxes: z.number().int().min(0).describe('Concurrent (not stopped) sandboxes per project.'),
  memoryMb: z.number().int().min(0).describe('Sum of memory limits of live sandboxes per project.'),
  cpu: z.number().min(0).describe('Sum of CPU limits of live sandboxes per project.'),
  pids: z
    .number()
    .int()
    .min(0)
    .describe(
      "Sum of pids limits of live sandboxes per project. Whatever the quotas, every sandbox on the host together stays below half of the kernel's task limit (a pids ceiling on the parent cgroup).",
    ),
  diskMb: z
    .number()
    .int()
    .min(0)
    .describe('Storage per project (MiB): the disk limits (resources.diskMb) of its live sandboxes plus what its snapshots and template layers hold (their exclusive bytes).'),
}
const quotaDefaults = { sandboxes: 100, memoryMb: 65_536, cpu: 64, pids: 32_768, diskMb: 1_048_576 }
const QuotaLimits = z
  .object({
    sandboxes: quotaFields.sandboxes.default(quotaDefaults.sandboxes),
    memoryMb: quotaFields.memoryMb.default(quotaDefaults.memoryMb),
    cpu: quotaFields.cpu.default(quotaDefaults.cpu),
    pids: quotaFields.pids.default(quotaDefaults.pids),
    diskMb: quotaFields.diskMb.default(quotaDefaults.diskMb),
  })
  .strict()
/** Per-project overrides: keys left out inherit quotas.default (so no defaults here). */
const QuotaOverrides = z.object(quotaFields).partial().strict()

export const ConfigSchema = z
  .object({
    home: z.string().describe('Data directory (store, runtime state, admin token).'),
    host: z.string().default('127.0.0.1').describe('Address the API listens on.'),
    port: z.number().int().min(0).max(65_535).default(7070),
    storeUrl: z.string().optional().describe('sqlite:<file> (default <home>/tidepool.db) or postgres://…'),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
    runtime: z
      .object({
        kind: z.enum(['local']).default('local'),
        cgroupName: z
          .string()
          .regex(/^[a-z0-9_-]+$/)
          .default('tidepool')
          .describe("Parent cgroup shared by every tidepool on the host; each instance's sandboxes sit in <cgroupName>/<instance id>/."),
        disk: z
          .object({
            driver: z
              .enum(['auto', 'btrfs', 'reflink', 'copy'])
              .default('auto')
              .describe(
                "Where sandboxes' writable layers and snapshots live: btrfs (a subvolume each, snapshots O(1), diskMb enforced by qgroups), reflink (file clones, O(files)), copy (cp -a, O(bytes)); auto: btrfs where the host has it, else reflink or copy with a warning. reflink and copy do not enforce resources.diskMb (a diskMb other than defaults.diskMb is refused).",
              ),
            poolMb: z
              .number()
              .int()
              .min(256)
              .default(20_480)
              .describe("Size of the sparse btrfs image (<home>/runtime/sandboxes-<instance>.img) holding every sandbox's writable layer: what all sandboxes together may write."),
            maxMb: z.number().int().min(16).default(10_240).describe('The largest resources.diskMb one sandbox may ask for (capped at poolMb).'),
          })
          .strict()
          .prefault({}),
        defaultIsolation: z
          .enum(['namespaces', 'gvisor'])
          .default('namespaces')
          .describe('Isolation of a sandbox whose create (and template) names none: namespaces (the local runtime) or gvisor (a gVisor sandbox; needs runsc, see scripts/install-runsc.sh).'),
        gvisor: z
          .object({
            runscPath: z.string().max(4096).startsWith('/').optional().describe('Path of runsc (default: /usr/local/lib/tidepool/runsc, then /usr/local/bin/runsc, /usr/bin/runsc).'),
            platform: z.enum(['systrap', 'ptrace']).default('systrap').describe("gVisor's platform: systrap (seccomp traps, no KVM needed) or ptrace (slower, for hosts where systrap fails)."),
          })
          .strict()
          .prefault({}),
        network: z
          .object({
            enabled: z.boolean().default(true).describe('Per-sandbox network (a veth pair to the host, policed by nftables); false: every sandbox has loopback only.'),
            range: z
              .string()
              .max(18)
              .default('10.200.0.0/16')
              .describe('Private IPv4 range of sandbox addresses (/8 to /28); its first address is the gateway, on lo, where the egress proxy listens. One range per host.'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    defaults: z
      .object({
        cpu: z.number().min(0.05).default(1),
        memoryMb: z.number().int().min(16).default(512),
        pids: z.number().int().min(8).default(256),
        diskMb: z.number().int().min(16).default(2048).describe('Writable-layer limit of a sandbox that asks for none (MiB); at most runtime.disk.maxMb.'),
      })
      .strict()
      .prefault({}),
    quotas: z
      .object({
        default: QuotaLimits.prefault({}),
        projects: z.record(z.string(), QuotaOverrides).default({}),
      })
      .strict()
      .default({ default: quotaDefaults, projects: {} }),
    exec: z
      .object({
        outputCapBytes: z.number().int().min(1024).default(1_048_576).describe('Buffered exec keeps at most this many bytes per stream (head + tail).'),
      })
      .strict()
      .default({ outputCapBytes: 1_048_576 }),
    files: z
      .object({
        maxConcurrentTransfers: z.number().int().min(1).default(8).describe('File reads and writes one token may have running at once; more get quota_exceeded (429) with retryAfter.'),
        maxReadBytes: z
          .number()
          .int()
          .min(1)
          .default(4 * 1024 ** 3)
          .describe('A file read (streamed) refuses a file larger than this with payload_too_large.'),
        transferTimeoutMs: z.number().int().min(1000).default(3_600_000).describe('A file read or write still running after this long is stopped (a write then changes nothing).'),
      })
      .strict()
      .prefault({}),
    reaperIntervalMs: z.number().int().min(50).default(1000),
    retention: z
      .object({
        stoppedSandboxesHours: z
          .number()
          .min(0)
          .default(168)
          .describe('A stopped sandbox (its record and events) is deleted this many hours after it stopped; 0 keeps them forever. The audit log is always kept.'),
      })
      .strict()
      .prefault({}),
    // prefault: an absent section is parsed as {}, so its own defaults apply (default() would skip parsing).
    insights: InsightsConfig.prefault({}),
    data: DataConfig.prefault({}),
    audit: AuditConfig.prefault({}),
    snapshots: SnapshotConfig.prefault({}),
    templates: TemplatesConfig.prefault({}),
    network: NetworkConfig.prefault({}).describe('Egress: the proxy, the project-level domain policy (sandbox-runtime keys), hosts, resolvers, stubs, brokered credentials.'),
    policy: PolicyConfig.prefault({}).describe('Policy as code (Cedar): which principal may do which call on which resource.'),
    router: RouterConfig.prefault({}).describe('The request router of environments (issue #13): its address, timeouts and pools.'),
    warmPools: z.array(WarmPoolConfig).max(64).default([]).describe('Warm pools: sandboxes started ahead per project and template, so a matching create is a claim.'),
  })
  .strict()
export type Config = z.infer<typeof ConfigSchema>

/** Env vars that override config keys: TIDEPOOL_<KEY>. */
const envKeys: Record<string, (v: string) => [string[], unknown]> = {
  TIDEPOOL_HOME: (v) => [['home'], v],
  TIDEPOOL_HOST: (v) => [['host'], v],
  TIDEPOOL_PORT: (v) => [['port'], Number(v)],
  TIDEPOOL_STORE_URL: (v) => [['storeUrl'], v],
  TIDEPOOL_LOG_LEVEL: (v) => [['logLevel'], v],
  TIDEPOOL_CGROUP_NAME: (v) => [['runtime', 'cgroupName'], v],
  TIDEPOOL_ROUTER_PORT: (v) => [['router', 'port'], Number(v)],
}

export interface LoadOptions {
  env: NodeJS.ProcessEnv
  /** --config FILE */
  file?: string
  /** Overrides from flags or tests, applied last. */
  overrides?: Record<string, unknown>
}

/** The only place that reads process.env for configuration. */
export function loadConfig(opts: LoadOptions): Config {
  const home = resolve(opts.env.TIDEPOOL_HOME ?? (opts.overrides?.home as string | undefined) ?? join(homedir(), '.tidepool'))
  const file = opts.file ?? join(home, 'config.yaml')
  let raw: Record<string, unknown> = Object.create(null) as Record<string, unknown>
  if (existsSync(file)) {
    let parsed: unknown
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'))
    } catch (err) {
      throw new AppError('invalid_request', `config file ${file} is not valid YAML: ${(err as Error).message}`)
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed)))
      throw new AppError('invalid_request', `config file ${file} must hold a mapping of keys (got ${Array.isArray(parsed) ? 'a list' : typeof parsed})`)
    // Null-prototype copy; __proto__/constructor/prototype keys and lone surrogates are refused at any depth.
    try {
      raw = safeCopy(parsed ?? {}) as Record<string, unknown>
    } catch (err) {
      throw new AppError('invalid_request', `config file ${file}: ${(err as Error).message}`, (err as AppError).details)
    }
  } else if (opts.file) {
    throw new AppError('invalid_request', `config file ${opts.file} does not exist`)
  }
  raw.home ??= home
  for (const [name, apply] of Object.entries(envKeys)) {
    const v = opts.env[name]
    if (v !== undefined && v !== '') setPath(raw, ...apply(v))
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (!isUnsafeKey(k)) raw[k] = v
  const parsed = ConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code === 'unrecognized_keys' ? `unknown key(s) ${i.keys.join(', ')}` : i.message}`)
    throw new AppError('invalid_request', `invalid configuration (${file}): ${problems.join('; ')}`, problems)
  }
  return parsed.data
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj
  for (const key of path.slice(0, -1)) {
    cur[key] ??= Object.create(null)
    cur = cur[key] as Record<string, unknown>
  }
  cur[path[path.length - 1]!] = value
}

export function storeUrlOf(cfg: Config): string {
  return cfg.storeUrl ?? `sqlite:${join(cfg.home, 'tidepool.db')}`
}

/** The config with secrets hidden, for `tidepool config print`. */
export function printableConfig(cfg: Config): Config {
  const storeUrl = cfg.storeUrl?.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@')
  return { ...cfg, ...(storeUrl ? { storeUrl } : {}) }
}

/** Where the CLI (and `tidepool mcp`, the stdio MCP server) reaches the API, and with which token (TIDEPOOL_URL, TIDEPOOL_TOKEN, else the admin token file). */
export function clientSettings(env: NodeJS.ProcessEnv, cfg: Config): { baseUrl: string; token: string | undefined; tokenFile: string } {
  const tokenFile = join(cfg.home, 'admin.token')
  const fromFile = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() || undefined : undefined
  const host = cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host
  return { baseUrl: env.TIDEPOOL_URL || `http://${host}:${cfg.port}`, token: env.TIDEPOOL_TOKEN || fromFile, tokenFile }
}

/** A secret named by the config (e.g. insights.llm.apiKeyEnv), read here so this stays the one reader of the environment. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined): string | undefined {
  return name ? env[name] || undefined : undefined
}
