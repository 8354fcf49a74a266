/**
 * @module network/config — the network area's config section (config key `network`). Its
 * `allowedDomains` / `deniedDomains` are the project level of every project (a sandbox-runtime
 * settings file's `network` section pastes in as-is); `projects.<id>` replaces them for one project.
 */
import { isIP } from 'node:net'
import { z } from 'zod'

const Domains = z.array(z.string().min(1).max(253)).max(1024)
const DomainPolicyConfig = z.object({ allowedDomains: Domains.default([]), deniedDomains: Domains.default([]) }).strict()

const StubConfig = z
  .object({
    name: z.string().min(1).max(128).describe('Named in events and in GET /v1/network/stubs/{name}/calls.'),
    domains: Domains.min(1).describe('Hosts (wildcards allowed) this stub answers for, before the allow rules (deny rules still win).'),
    response: z
      .object({
        status: z.number().int().min(100).max(599).default(200),
        headers: z.record(z.string().min(1).max(256), z.string().max(8192)).default({}),
        body: z
          .string()
          .max(1024 * 1024)
          .default(''),
      })
      .strict()
      .optional()
      .describe('A fixture tidepool serves (plain http:// requests).'),
    url: z
      .string()
      .max(2048)
      .refine((u) => URL.canParse(u) && new URL(u).protocol === 'http:' && new URL(u).hostname !== '', 'url must be http://host[:port] (e.g. another sandbox exposed port)')
      .optional()
      .describe('Forward to this address instead (HTTP requests and tunnels); trusted as configured.'),
  })
  .strict()
  .refine((s) => (s.response === undefined) !== (s.url === undefined), 'a stub has exactly one of response or url')

const CredentialConfig = z
  .object({
    domains: Domains.min(1).describe('Allowed hosts whose requests get the headers.'),
    headers: z
      .record(
        z.string().min(1).max(256),
        z
          .object({
            secret: z.string().min(1).max(128).describe('A secret created with POST /v1/secrets (the sandbox project).'),
            format: z.string().max(1024).optional().describe('Value with {secret} in it, e.g. "Bearer {secret}".'),
          })
          .strict(),
      )
      .describe('Header name → its value from a named secret.'),
    terminateTls: z
      .boolean()
      .default(false)
      .describe("Also for HTTPS: the proxy terminates TLS to these hosts with tidepool's CA (<home>/network/ca; install it in the sandbox), adds the headers, and re-encrypts to the real server."),
  })
  .strict()

export const NetworkConfig = z
  .object({
    proxy: z
      .object({
        enabled: z.boolean().default(false).describe('Start the egress proxy with the server.'),
        host: z.string().default('127.0.0.1').describe("Address the proxy listens on (in production the runtime's gateway address)."),
        httpPort: z.number().int().min(0).max(65_535).default(0).describe('HTTP/CONNECT port (0: any free port).'),
        socksPort: z.number().int().min(0).max(65_535).default(0).describe('SOCKS5 port (0: any free port).'),
        connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
      })
      .strict()
      .prefault({}),
    allowedDomains: Domains.default([]).describe('Project level for every project: a host must match one (when any level lists some).'),
    deniedDomains: Domains.default([]).describe('Project level for every project: a matching host is denied (deny wins).'),
    projects: z.record(z.string().min(1).max(128), DomainPolicyConfig).default({}).describe('Per project: replaces allowedDomains/deniedDomains above.'),
    hosts: z
      .record(
        z.string().min(1).max(253),
        z.string().refine((a) => isIP(a) !== 0, 'an IP address'),
      )
      .default({})
      .describe('Name → address, trusted without DNS or the private-address check (tests, air-gapped sites).'),
    resolvers: z.array(z.string().min(1).max(64)).max(8).default([]).describe('DNS servers (ip or ip:port) the proxy resolves with; empty: the system resolver.'),
    upstreamCaFiles: z.array(z.string().min(1).max(4096)).max(16).default([]).describe('PEM files of extra roots trusted for upstream HTTPS when terminating TLS (default: the system roots).'),
    stubs: z.array(StubConfig).max(256).default([]),
    credentials: z.array(CredentialConfig).max(256).default([]),
    events: z
      .object({
        retain: z.number().int().min(100).default(100_000).describe('Egress events kept (the oldest are deleted beyond this).'),
        publish: z.enum(['refused', 'all', 'none']).default('refused').describe('Which attempts also go to the sandbox event stream (denied, stubbed, error; or all).'),
      })
      .strict()
      .prefault({}),
  })
  .strict()
export type NetworkConfig = z.infer<typeof NetworkConfig>
