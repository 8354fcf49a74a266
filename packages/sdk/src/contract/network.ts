/** @module contract/network — egress: a sandbox's domain policy, the events of every egress attempt, stub calls, and the secrets the proxy brokers. */
import { z } from 'zod'
import { limits, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'
import { NetworkPolicy, SandboxId } from './sandbox.js'

const tags = ['network']

const Domain = z.string().min(1).max(253)
const Domains = z.array(Domain).max(256)

export const PolicyLevel = z.enum(['project', 'template', 'sandbox'])

export const SandboxNetwork = z
  .object({
    sandboxId: SandboxId,
    policy: NetworkPolicy.describe("The sandbox's own level (what create or PATCH set)."),
    effective: z
      .object({
        allow: z.array(z.object({ level: PolicyLevel, patterns: z.array(z.string()) })).describe('A host is allowed only when every listed level allows it; none listed: nothing is allowed.'),
        deny: z.array(z.object({ level: PolicyLevel, patterns: z.array(z.string()) })).describe('A host any level denies is denied (deny wins).'),
      })
      .describe('The most restrictive combination of the project (config), template and sandbox levels.'),
    attached: z.boolean().describe('Whether the egress proxy serves the sandbox now.'),
    updatedAt: Timestamp,
  })
  .meta({ id: 'SandboxNetwork' })

export const PatchSandboxNetworkInput = z
  .object({
    id: SandboxId,
    allowedDomains: Domains.optional().describe('Replaces the sandbox-level allowlist (wildcards like *.npmjs.org).'),
    deniedDomains: Domains.optional().describe('Replaces the sandbox-level denylist; wins over every allow.'),
  })
  .strict()
  .meta({ id: 'PatchSandboxNetworkInput' })

export const EgressVerdict = z.enum(['allowed', 'denied', 'stubbed', 'error'])

export const StubCall = z
  .object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).describe('Request headers without credentials (authorization, cookies, API keys).'),
    body: z.string().describe('The request body as UTF-8, at most 64 KiB.'),
    truncated: z.boolean(),
  })
  .meta({ id: 'StubCall' })

export const NetworkEvent = z
  .object({
    seq: z.number().int(),
    at: Timestamp,
    sandboxId: SandboxId,
    protocol: z.enum(['http', 'connect', 'socks']),
    host: z.string(),
    port: z.number().int(),
    verdict: EgressVerdict,
    rule: z.string().describe('The rule or reason that decided.'),
    bytesUp: z.number().int(),
    bytesDown: z.number().int(),
    stub: z.string().optional(),
    call: StubCall.optional(),
  })
  .meta({ id: 'NetworkEvent' })
export const NetworkEventPage = page(NetworkEvent).meta({ id: 'NetworkEventPage' })

export const ListNetworkEventsInput = z
  .object({
    sandboxId: SandboxId.optional().describe('Only events of this sandbox.'),
    verdict: EgressVerdict.optional(),
    host: Domain.optional().describe('Only attempts to this host (exact).'),
    ...PageInput,
  })
  .strict()

export const ListStubCallsInput = z
  .object({
    name: z.string().min(1).max(limits.name).describe('The stub rule (config network.stubs[].name).'),
    sandboxId: SandboxId.optional(),
    ...PageInput,
  })
  .strict()

export const NetworkStats = z
  .object({
    allowed: z.number().int(),
    denied: z.number().int(),
    stubbed: z.number().int(),
    error: z.number().int(),
    refusedConnections: z.number().int().describe('Connections from an address no sandbox is attached at.'),
    bytesUp: z.number().int(),
    bytesDown: z.number().int(),
    attached: z.number().int().describe('Sandboxes the proxy serves now.'),
  })
  .meta({ id: 'NetworkStats' })

const SecretName = z
  .string()
  .min(1)
  .max(limits.name)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'secret names are letters, digits, ., _ and - (starting with a letter or digit)')
  .refine((n) => n !== 'constructor' && n !== 'prototype', 'constructor and prototype are not secret names')

export const CreateSecretInput = z
  .object({
    name: SecretName,
    value: z.string().min(1).max(16_384).describe('Stored encrypted (AES-256-GCM); never returned, never logged.'),
  })
  .strict()
  .meta({ id: 'CreateSecretInput' })
export const SecretInfo = z.object({ name: z.string(), createdAt: Timestamp, updatedAt: Timestamp }).meta({ id: 'SecretInfo' })

export const networkOps = {
  getSandboxNetwork: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/network',
    summary: "A sandbox's egress policy: its own level and the effective combination",
    scope: 'sandboxes:read',
    input: z.object({ id: SandboxId }).strict(),
    output: SandboxNetwork,
    mcp: true,
    tags,
  },
  patchSandboxNetwork: {
    method: 'PATCH',
    path: '/v1/sandboxes/{id}/network',
    summary: "Change a running sandbox's egress policy (new connections use it)",
    scope: 'sandboxes:write',
    input: PatchSandboxNetworkInput,
    output: SandboxNetwork,
    tags,
  },
  listNetworkEvents: {
    method: 'GET',
    path: '/v1/network/events',
    summary: 'Egress attempts, newest first (allowed, denied, stubbed, error), with bytes and the deciding rule',
    scope: 'sandboxes:read',
    input: ListNetworkEventsInput,
    output: NetworkEventPage,
    mcp: true,
    tags,
  },
  listStubCalls: {
    method: 'GET',
    path: '/v1/network/stubs/{name}/calls',
    summary: 'What sandboxes sent a stub, oldest first (method, path, headers without credentials, bounded body)',
    scope: 'sandboxes:read',
    input: ListStubCallsInput,
    output: NetworkEventPage,
    tags,
  },
  getNetworkStats: {
    method: 'GET',
    path: '/v1/network/stats',
    summary: "The egress proxy's counters since start (all projects; admin)",
    scope: 'admin',
    input: z.object({}).strict(),
    output: NetworkStats,
    tags,
  },
  createSecret: {
    method: 'POST',
    path: '/v1/secrets',
    summary: 'Store (or replace) a secret the egress proxy can broker (admin)',
    scope: 'admin',
    input: CreateSecretInput,
    output: SecretInfo,
    status: 201,
    tags,
  },
  listSecrets: {
    method: 'GET',
    path: '/v1/secrets',
    summary: "The project's secrets, without values (admin)",
    scope: 'admin',
    input: z.object({}).strict(),
    output: z.object({ items: z.array(SecretInfo) }),
    tags,
  },
  deleteSecret: {
    method: 'DELETE',
    path: '/v1/secrets/{name}',
    summary: 'Delete a secret (admin, idempotent)',
    scope: 'admin',
    input: z.object({ name: SecretName }).strict(),
    output: 'empty',
    status: 204,
    tags,
  },
} as const satisfies Record<string, Operation>

export type SandboxNetwork = z.infer<typeof SandboxNetwork>
export type NetworkEvent = z.infer<typeof NetworkEvent>
export type StubCall = z.infer<typeof StubCall>
export type NetworkStats = z.infer<typeof NetworkStats>
export type SecretInfo = z.infer<typeof SecretInfo>
