/** @module contract/operations — the operation table: the one source of routes, validation, OpenAPI, SDK and CLI help. */
import { z } from 'zod'
import { actionsOps } from './actions.js'
import { AuditGraph, AuditGraphInput, AuditPage, AuditVerifyResult, ListAuditInput, ReplayInput, ReplayReport, SandboxEventPage } from './audit.js'
import { CreatedToken, CreateTokenInput, ListTokensInput, Principal, TokenPage, TokenRef } from './auth.js'
import { PageInput } from './common.js'
import { dataOps } from './data.js'
import { environmentsOps } from './environments.js'
import { gateOps } from './gate.js'
import { insightsOps } from './insights.js'
import { networkOps } from './network.js'
import { templatesOps } from './templates.js'
import type { Operation } from './operation.js'
import { policyOps } from './policy.js'
import { portsOps } from './ports.js'
import { snapshotOps } from './snapshots.js'
import { workflowsOps } from './workflows.js'
import { webhooksOps } from './webhooks.js'
import {
  CommandInfo,
  CommandRef,
  CommandStdinInput,
  CommandResizeInput,
  CommandSignalInput,
  CreateSandboxInput,
  ExecInput,
  ExecResult,
  OneShotInput,
  OneShotResult,
  FileList,
  FileRef,
  FileStat,
  ListFilesInput,
  ListSandboxesInput,
  PatchSandboxInput,
  RenameFileInput,
  Sandbox,
  SandboxMetrics,
  SandboxPage,
  SandboxRef,
  WarmPoolList,
  WriteFileInput,
} from './sandbox.js'

const sandboxOps = {
  createSandbox: {
    method: 'POST',
    path: '/v1/sandboxes',
    summary: 'Create a sandbox',
    scope: 'sandboxes:write',
    input: CreateSandboxInput,
    output: Sandbox,
    status: 201,
    mcp: true,
    tags: ['sandboxes'],
  },
  listSandboxes: {
    method: 'GET',
    path: '/v1/sandboxes',
    summary: 'List sandboxes (paginated, filter by state and metadata)',
    scope: 'sandboxes:read',
    input: ListSandboxesInput,
    output: SandboxPage,
    mcp: true,
    tags: ['sandboxes'],
  },
  getSandbox: { method: 'GET', path: '/v1/sandboxes/{id}', summary: 'Get one sandbox', scope: 'sandboxes:read', input: SandboxRef, output: Sandbox, mcp: true, tags: ['sandboxes'] },
  patchSandbox: {
    method: 'PATCH',
    path: '/v1/sandboxes/{id}',
    summary: 'Extend the TTL, replace metadata, or resize live',
    scope: 'sandboxes:write',
    input: PatchSandboxInput,
    output: Sandbox,
    tags: ['sandboxes'],
  },
  deleteSandbox: {
    method: 'DELETE',
    path: '/v1/sandboxes/{id}',
    summary: 'Destroy a sandbox (idempotent)',
    scope: 'sandboxes:write',
    input: SandboxRef,
    output: 'empty',
    status: 204,
    mcp: true,
    tags: ['sandboxes'],
  },
  pauseSandbox: { method: 'POST', path: '/v1/sandboxes/{id}/pause', summary: 'Freeze every process of a sandbox', scope: 'sandboxes:write', input: SandboxRef, output: Sandbox, tags: ['sandboxes'] },
  resumeSandbox: { method: 'POST', path: '/v1/sandboxes/{id}/resume', summary: 'Thaw a paused sandbox', scope: 'sandboxes:write', input: SandboxRef, output: Sandbox, tags: ['sandboxes'] },
  getSandboxMetrics: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/metrics',
    summary: 'Resource usage from cgroup stats',
    scope: 'sandboxes:read',
    input: SandboxRef,
    output: SandboxMetrics,
    tags: ['sandboxes'],
  },
  listWarmPools: {
    method: 'GET',
    path: '/v1/pools',
    summary: "The project's warm pools: size, hits, misses, refill time",
    scope: 'sandboxes:read',
    input: z.object({}).strict(),
    output: WarmPoolList,
    tags: ['sandboxes'],
  },
  listSandboxEvents: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/events',
    summary: 'Events of one sandbox (state changes, execs, OOM kills)',
    scope: 'sandboxes:read',
    input: SandboxRef.extend({ ...PageInput }),
    output: SandboxEventPage,
    tags: ['sandboxes'],
  },
  exec: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/exec',
    summary: 'Run a command (buffered JSON, or NDJSON stream with Accept: application/x-ndjson)',
    scope: 'sandboxes:write',
    input: ExecInput,
    output: z.union([ExecResult, CommandInfo]),
    stream: true,
    maxBodyBytes: 32 * 1024 * 1024,
    mcp: true,
    tags: ['commands'],
  },
  run: {
    method: 'POST',
    path: '/v1/run',
    summary: 'Run one command in a fresh sandbox that is destroyed after (buffered JSON, or NDJSON stream with Accept: application/x-ndjson)',
    scope: 'sandboxes:write',
    input: OneShotInput,
    output: OneShotResult,
    stream: true,
    maxBodyBytes: 32 * 1024 * 1024,
    mcp: true,
    mcpName: 'run_command',
    tags: ['commands'],
  },
  listCommands: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/commands',
    summary: 'Commands started in a sandbox',
    scope: 'sandboxes:read',
    input: SandboxRef,
    output: z.object({ items: z.array(CommandInfo) }),
    tags: ['commands'],
  },
  waitCommand: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/commands/{pid}/wait',
    summary: 'Wait for a background command and get its result (NDJSON streams its output)',
    scope: 'sandboxes:read',
    input: CommandRef,
    output: ExecResult,
    stream: true,
    tags: ['commands'],
  },
  killCommand: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/commands/{pid}/kill',
    summary: 'Kill a command and every process it started',
    scope: 'sandboxes:write',
    input: CommandRef,
    output: CommandInfo,
    tags: ['commands'],
  },
  writeCommandStdin: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/commands/{pid}/stdin',
    summary: 'Write to (or close) the stdin of a background command started with keepStdin',
    scope: 'sandboxes:write',
    input: CommandStdinInput,
    output: CommandInfo,
    maxBodyBytes: 12 * 1024 * 1024,
    tags: ['commands'],
  },
  resizeCommand: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/commands/{pid}/resize',
    summary: 'Resize the pseudo-terminal of a background command started with pty',
    scope: 'sandboxes:write',
    input: CommandResizeInput,
    output: CommandInfo,
    tags: ['commands'],
  },
  signalCommand: {
    method: 'POST',
    path: '/v1/sandboxes/{id}/commands/{pid}/signal',
    summary: "Send a signal to a background command's main process",
    scope: 'sandboxes:write',
    input: CommandSignalInput,
    output: CommandInfo,
    tags: ['commands'],
  },
  readFile: { method: 'GET', path: '/v1/sandboxes/{id}/files', summary: 'Read a file (raw bytes)', scope: 'sandboxes:read', input: FileRef, output: 'raw', mcp: true, tags: ['files'] },
  listFiles: {
    method: 'GET',
    path: '/v1/sandboxes/{id}/files',
    query: { list: '1' },
    summary: 'List a directory (?list=1)',
    scope: 'sandboxes:read',
    input: ListFilesInput,
    output: FileList,
    mcp: true,
    tags: ['files'],
  },
  statFile: { method: 'GET', path: '/v1/sandboxes/{id}/files/stat', summary: 'Whether a path exists, and what it is', scope: 'sandboxes:read', input: FileRef, output: FileStat, tags: ['files'] },
  writeFile: {
    method: 'PUT',
    path: '/v1/sandboxes/{id}/files',
    summary: 'Write a file (raw bytes; parents are created)',
    scope: 'sandboxes:write',
    input: WriteFileInput,
    rawBody: 'content',
    rawStream: true,
    output: FileStat,
    mcp: true,
    tags: ['files'],
  },
  deleteFile: {
    method: 'DELETE',
    path: '/v1/sandboxes/{id}/files',
    summary: 'Remove a file or directory tree (idempotent)',
    scope: 'sandboxes:write',
    input: FileRef,
    output: 'empty',
    status: 204,
    tags: ['files'],
  },
  makeDir: { method: 'POST', path: '/v1/sandboxes/{id}/files/mkdir', summary: 'Create a directory and its parents', scope: 'sandboxes:write', input: FileRef, output: FileStat, tags: ['files'] },
  renameFile: { method: 'POST', path: '/v1/sandboxes/{id}/files/rename', summary: 'Move or rename a file', scope: 'sandboxes:write', input: RenameFileInput, output: FileStat, tags: ['files'] },
} as const satisfies Record<string, Operation>

const accessOps = {
  whoami: { method: 'GET', path: '/v1/me', summary: 'The calling principal', scope: 'sandboxes:read', input: z.object({}).strict(), output: Principal, tags: ['auth'] },
  createToken: { method: 'POST', path: '/v1/tokens', summary: 'Create a project-scoped token (admin)', scope: 'admin', input: CreateTokenInput, output: CreatedToken, status: 201, tags: ['auth'] },
  listTokens: { method: 'GET', path: '/v1/tokens', summary: 'List tokens (admin)', scope: 'admin', input: ListTokensInput, output: TokenPage, tags: ['auth'] },
  revokeToken: { method: 'DELETE', path: '/v1/tokens/{id}', summary: 'Revoke a token (admin, idempotent)', scope: 'admin', input: TokenRef, output: 'empty', status: 204, tags: ['auth'] },
  listAudit: { method: 'GET', path: '/v1/audit', summary: "The project's audit records", scope: 'audit:read', input: ListAuditInput, output: AuditPage, tags: ['audit'] },
  auditGraph: {
    method: 'GET',
    path: '/v1/audit/graph',
    summary: "An agent run's decision graph: prompt → model output → action → result, as JSON and Mermaid",
    scope: 'audit:read',
    input: AuditGraphInput,
    output: AuditGraph,
    tags: ['audit'],
  },
  replayRun: {
    method: 'POST',
    path: '/v1/audit/replay',
    summary: 'Replay an agent run: re-issue its recorded actions against a fresh sandbox and report where results differ (each replayed call needs its own scope)',
    scope: 'audit:read',
    input: ReplayInput,
    output: ReplayReport,
    mcp: true,
    tags: ['audit'],
  },
  verifyAudit: { method: 'POST', path: '/v1/audit/verify', summary: 'Verify the audit hash chain (admin)', scope: 'admin', input: z.object({}).strict(), output: AuditVerifyResult, tags: ['audit'] },
} as const satisfies Record<string, Operation>

/** Every operation. Areas add their table here with one spread. */
export const operations = {
  ...sandboxOps,
  ...accessOps,
  ...insightsOps,
  ...dataOps,
  ...templatesOps,
  ...snapshotOps,
  ...actionsOps,
  ...networkOps,
  ...portsOps,
  ...workflowsOps,
  ...policyOps,
  ...environmentsOps,
  ...webhooksOps,
  ...gateOps,
} as const satisfies Record<string, Operation>

export type Operations = typeof operations
export type OpName = keyof Operations
/** Each server area's operations: its handler table implements exactly this set. */
export type SandboxOpName = keyof typeof sandboxOps
export type AccessOpName = keyof typeof accessOps
export type InsightsOpName = keyof typeof insightsOps
export type DataOpName = keyof typeof dataOps
export type TemplatesOpName = keyof typeof templatesOps
export type SnapshotOpName = keyof typeof snapshotOps
export type ActionsOpName = keyof typeof actionsOps
export type NetworkOpName = keyof typeof networkOps
export type PortsOpName = keyof typeof portsOps
export type WorkflowsOpName = keyof typeof workflowsOps
export type PolicyOpName = keyof typeof policyOps
export type EnvironmentsOpName = keyof typeof environmentsOps
export type WebhooksOpName = keyof typeof webhooksOps
export type GateOpName = keyof typeof gateOps
export type OpInput<K extends OpName> = z.input<Operations[K]['input']>
type OutputOf<O> = O extends z.ZodType ? z.output<O> : O extends 'raw' ? Uint8Array : void
export type OpOutput<K extends OpName> = OutputOf<Operations[K]['output']>

/** The whole API as functions: implemented in-process by dispatch and remotely by createClient. */
export type Api = { [K in OpName]: (input: OpInput<K>) => Promise<OpOutput<K>> }
