/** @module contract/sandbox — sandbox, exec, files and metrics schemas. */
import { z } from 'zod'
import { Envs, limits, Metadata, MetadataFilter, Name, PageInput, Path, Timestamp, page } from './common.js'

export const SandboxId = z
  .string()
  .max(limits.id)
  .regex(/^sbx_[a-z0-9]{6,40}$/, 'sandbox ids look like sbx_ followed by lowercase letters and digits')
  .describe('Sandbox id, e.g. sbx_k3j9x2m1q8w7.')

/** Snapshot ids live here, not in contract/snapshots, because CreateSandboxInput refers to them (no import cycle). */
export const SnapshotId = z
  .string()
  .max(limits.id)
  .regex(/^snap_[a-z0-9]{6,40}$/, 'snapshot ids look like snap_ followed by lowercase letters and digits')
  .describe('Snapshot id, e.g. snap_k3j9x2m1q8w7.')

export const SandboxState = z.enum(['starting', 'running', 'paused', 'stopped']).describe('Lifecycle state.')
export type SandboxState = z.infer<typeof SandboxState>

export const Resources = z
  .object({
    cpu: z.number().min(0.05).max(64).describe('CPU cores (fractional allowed), enforced as a CFS quota.'),
    memoryMb: z.number().int().min(16).max(262_144).describe('Memory limit in MiB; the kernel OOM-kills above it.'),
    pids: z
      .number()
      .int()
      .min(8)
      .max(65_536)
      .describe("Maximum number of processes and threads, counting the sandbox's init, its exec server and one handler per running command; at most half of the host's kernel task limit."),
    diskMb: z
      .number()
      .int()
      .min(16)
      .max(1_048_576)
      .describe("What the sandbox's writable layer may hold, in MiB (files it writes anywhere); a write past it fails with EDQUOT inside the sandbox. At most the server's runtime.disk.maxMb."),
  })
  .strict()
  .meta({ id: 'Resources' })
export type Resources = z.infer<typeof Resources>

export const Lifecycle = z
  .object({
    onTimeout: z.enum(['kill', 'pause']).default('kill').describe('What happens when timeoutMs elapses.'),
    autoResume: z.boolean().default(false).describe('A paused sandbox resumes on its next exec or file call.'),
  })
  .strict()
  .meta({ id: 'Lifecycle' })

export const NetworkPolicy = z
  .object({
    allowedDomains: z.array(z.string().min(1).max(253)).max(256).default([]).describe('Egress allowlist (wildcards like *.npmjs.org).'),
    deniedDomains: z.array(z.string().min(1).max(253)).max(256).default([]).describe('Egress denylist; wins over allowedDomains.'),
  })
  .strict()

export const FilesystemPolicy = z
  .object({
    denyRead: z
      .array(z.string().max(limits.path).startsWith('/', 'denyRead paths are absolute paths inside the sandbox'))
      .max(64)
      .default([])
      .describe('Paths inside the sandbox to hide (masked with an empty file or directory).'),
  })
  .strict()

const TimeoutMs = z.number().int().min(1_000, 'timeoutMs must be at least 1000 (1 s)').max(86_400_000, 'timeoutMs must be at most 86400000 (24 h)')

export const Isolation = z
  .enum(['namespaces', 'gvisor'])
  .describe(
    "How the sandbox is kept from the host kernel: namespaces (own namespaces, cgroups and a seccomp filter; its system calls reach the host kernel) or gvisor (gVisor's user-space kernel answers them; loopback only, no snapshots). Default: the server's runtime.defaultIsolation.",
  )
  .meta({ id: 'Isolation' })
export type Isolation = z.infer<typeof Isolation>

export const CreateSandboxInput = z
  .object({
    template: Name.default('default').describe('Template name; see GET /v1/templates. Ignored with fromSnapshot (the snapshot names its template).'),
    fromSnapshot: SnapshotId.optional().describe("Start with this snapshot's files (and its template) instead of an empty writable layer."),
    timeoutMs: TimeoutMs.default(300_000).describe('Time to live in ms (default 5 minutes); extend with PATCH.'),
    lifecycle: Lifecycle.default({ onTimeout: 'kill', autoResume: false }),
    resources: Resources.partial().default({}).describe('Limits; unset fields take the configured defaults.'),
    network: NetworkPolicy.optional().describe('Egress policy. Sandboxes have loopback only until egress lands.'),
    filesystem: FilesystemPolicy.optional(),
    envs: Envs.default({}),
    metadata: Metadata.default({}),
    isolation: Isolation.optional(),
  })
  .strict()
  .meta({ id: 'CreateSandboxInput' })
export type CreateSandboxInput = z.input<typeof CreateSandboxInput>

export const Sandbox = z
  .object({
    id: SandboxId,
    project: z.string(),
    state: SandboxState,
    reason: z.string().describe('Why the sandbox is in its current state (e.g. created, paused_by_user, timeout).'),
    template: z.string(),
    templateDigest: z.string().optional().describe('Digest of the exact template layer stack the sandbox started from.'),
    parentSnapshot: SnapshotId.optional().describe('The snapshot the sandbox started from (fromSnapshot, fork), if any.'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    expiresAt: Timestamp.describe('When the TTL fires (kill or pause per lifecycle.onTimeout).'),
    timeoutMs: z.number().int(),
    lifecycle: Lifecycle,
    // diskMb is absent on sandboxes made before disk limits (and from servers without them).
    resources: Resources.partial({ diskMb: true }),
    envKeys: z.array(z.string()).describe('Names of the sandbox-wide envs (values are never returned).'),
    metadata: z.record(z.string(), z.string()),
  })
  .meta({ id: 'Sandbox' })
export type Sandbox = z.infer<typeof Sandbox>

export const SandboxRef = z.object({ id: SandboxId }).strict()

export const ListSandboxesInput = z
  .object({
    state: SandboxState.optional().describe('Only sandboxes in this state. Stopped ones are listed only when asked.'),
    metadata: MetadataFilter.optional().describe('Filter: every given key must match (metadata.k=v in the query).'),
    ...PageInput,
  })
  .strict()
export const SandboxPage = page(Sandbox).meta({ id: 'SandboxPage' })

export const PatchSandboxInput = z
  .object({
    id: SandboxId,
    timeoutMs: TimeoutMs.optional().describe('New TTL counted from now.'),
    metadata: Metadata.optional().describe('Replaces the metadata.'),
    resources: Resources.partial().optional().describe('Live resize; unset fields keep their value.'),
  })
  .strict()

export const ExecInput = z
  .object({
    id: SandboxId,
    cmd: z.union([z.array(z.string().max(131_072)).min(1).max(4096), z.string().min(1).max(131_072)]).describe('argv array, or a string run with /bin/sh -c.'),
    cwd: z.string().max(limits.path).startsWith('/', 'cwd is an absolute path inside the sandbox').optional(),
    envs: Envs.optional(),
    user: z.enum(['user', 'root']).optional().describe("'user' (uid 1000) or 'root' (root inside the sandbox's user namespace only); default: the template's user, else 'user'."),
    stdin: z
      .string()
      .max(16 * 1024 * 1024)
      .optional()
      .describe('Bytes (UTF-8) written to stdin, then closed.'),
    timeoutMs: z.number().int().min(1, 'timeoutMs must be at least 1').max(86_400_000).default(60_000).describe('Kills the whole process tree after this many ms.'),
    background: z.boolean().default(false).describe('Return at once with a command handle (pid).'),
    keepStdin: z.boolean().default(false).describe('With background: keep stdin open, to write to with POST …/commands/{pid}/stdin (stdin, if given, is written first).'),
    snapshotOnFailure: z
      .boolean()
      .default(false)
      .describe('On a non-zero exit or a timeout, snapshot the sandbox before returning (snapshotId in the result and the exec event). Not with background.'),
  })
  .strict()
  .meta({ id: 'ExecInput' })

export const ExecResult = z
  .object({
    exitCode: z.number().int().describe('Exit code; 128+N when killed by signal N.'),
    stdout: z.string(),
    stderr: z.string(),
    durationMs: z.number(),
    timedOut: z.boolean(),
    oomKilled: z.boolean().describe('The kernel killed a process of this command for exceeding memoryMb.'),
    truncated: z.boolean().describe('Output exceeded the buffered cap; head and tail were kept.'),
    stdoutBytes: z.number().int().describe('Total bytes written to stdout, kept or not.'),
    stderrBytes: z.number().int(),
    snapshotId: SnapshotId.optional().describe('With snapshotOnFailure: the snapshot taken of the failed state.'),
    snapshotError: z.string().optional().describe('With snapshotOnFailure: why no snapshot could be taken (the result is still returned).'),
  })
  .meta({ id: 'ExecResult' })
export type ExecResult = z.infer<typeof ExecResult>

/** A one-shot run (POST /v1/run): a fresh sandbox for one command, destroyed once its result is produced. */
export const OneShotInput = z
  .object({
    cmd: ExecInput.shape.cmd,
    cwd: ExecInput.shape.cwd,
    envs: Envs.optional().describe("Environment of the command, on top of the template's."),
    user: ExecInput.shape.user,
    stdin: ExecInput.shape.stdin,
    timeoutMs: z
      .number()
      .int()
      .min(1, 'timeoutMs must be at least 1')
      .max(3_600_000, 'timeoutMs must be at most 3600000 (1 h)')
      .default(60_000)
      .describe('Kills the whole process tree after this many ms.'),
    template: Name.default('default').describe('Template of the sandbox the command runs in; see GET /v1/templates.'),
    resources: Resources.partial().default({}).describe('Limits; unset fields take the configured defaults (a warm pool of the template serves runs with none).'),
    filesystem: FilesystemPolicy.optional(),
  })
  .strict()
  .meta({ id: 'OneShotInput' })
export type OneShotInput = z.input<typeof OneShotInput>

export const OneShotResult = ExecResult.omit({ snapshotId: true, snapshotError: true })
  .extend({ sandboxId: SandboxId.describe('The sandbox the command ran in (already destroyed or being destroyed); audit records and events name it.') })
  .meta({ id: 'OneShotResult' })
export type OneShotResult = z.infer<typeof OneShotResult>

/** One line of a streamed run (NDJSON): output chunks, then the result without its output. */
export const OneShotStreamLine = z.union([z.object({ stream: z.enum(['stdout', 'stderr']), data: z.string() }), OneShotResult.omit({ stdout: true, stderr: true })])

export const CommandInfo = z
  .object({
    pid: z.number().int().describe('Handle of a command started by exec (tidepool-side id, stable for the sandbox).'),
    cmd: z.array(z.string()),
    state: z.enum(['running', 'exited']),
    startedAt: Timestamp,
    exitCode: z.number().int().optional(),
  })
  .meta({ id: 'CommandInfo' })
export type CommandInfo = z.infer<typeof CommandInfo>
export const CommandRef = z.object({ id: SandboxId, pid: z.coerce.number().int().min(1).max(2_147_483_647) }).strict()
export const CommandStdinInput = CommandRef.extend({
  data: z
    .string()
    .max(8 * 1024 * 1024)
    .default('')
    .describe('What to write to the stdin of a command started with keepStdin.'),
  encoding: z.enum(['utf8', 'base64']).default('utf8').describe('How data is encoded (base64 for binary).'),
  eof: z.boolean().default(false).describe('Close stdin after writing (the command reads end of file).'),
}).strict()

/** One line of a streamed exec (NDJSON). */
export const ExecStreamLine = z.union([z.object({ stream: z.enum(['stdout', 'stderr']), data: z.string() }), z.object({ pid: z.number().int() }), ExecResult.omit({ stdout: true, stderr: true })])

export const FilePath = Path.describe('Path inside the sandbox; relative paths start at /home/user.')
export const FileRef = z.object({ id: SandboxId, path: FilePath }).strict()
/** Whole bytes, or (on the server) the request body as it arrives: any AsyncIterable of Uint8Array chunks. */
const RawContent = z.custom<Uint8Array | AsyncIterable<Uint8Array>>(
  (v) => v instanceof Uint8Array || (typeof v === 'object' && v !== null && typeof (v as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'),
  'raw bytes',
)
export const WriteFileInput = z.object({ id: SandboxId, path: FilePath, content: RawContent }).strict()
export const RenameFileInput = z.object({ id: SandboxId, from: FilePath, to: FilePath }).strict()
export const FileEntry = z
  .object({
    name: z.string(),
    path: z.string(),
    type: z.enum(['file', 'dir', 'symlink', 'other']),
    size: z.number().int(),
    mode: z.string().describe('Octal permission bits, e.g. 0644.'),
    modifiedAt: Timestamp,
  })
  .meta({ id: 'FileEntry' })
export type FileEntry = z.infer<typeof FileEntry>
export const ListFilesInput = z.object({ id: SandboxId, path: FilePath, list: z.string().max(8).optional(), depth: z.coerce.number().int().min(1).max(8).default(1) }).strict()
export const FileList = z.object({ items: z.array(FileEntry) }).meta({ id: 'FileList' })
export const FileStat = z.object({ exists: z.boolean(), entry: FileEntry.optional() }).meta({ id: 'FileStat' })
export type FileStat = z.infer<typeof FileStat>

export const WarmPool = z
  .object({
    template: z.string().describe('The template the pool serves.'),
    replicas: z.number().int().describe('Ready sandboxes it keeps (config warmPools).'),
    ready: z.number().int().describe('Ready now.'),
    hits: z.number().int().describe('Creates that claimed a ready sandbox.'),
    misses: z.number().int().describe('Creates that found the pool empty (they started a sandbox as usual).'),
    refillP50Ms: z.number().optional().describe('Median time one refill start took.'),
    lastError: z.string().optional().describe('Why the last refill failed (refills back off, then retry).'),
  })
  .meta({ id: 'WarmPool' })
export const WarmPoolList = z.object({ items: z.array(WarmPool) })

export const SandboxMetrics = z
  .object({
    at: Timestamp,
    cpuSeconds: z.number(),
    memoryBytes: z.number().int(),
    memoryPeakBytes: z.number().int(),
    memoryLimitBytes: z.number().int(),
    pids: z.number().int(),
    pidsLimit: z.number().int(),
    oomKills: z.number().int(),
    cpuLimit: z.number().optional().describe("CPU cores the sandbox's cgroup quota allows, read back from the cgroup (what a resize really set)."),
    pidsLimitHits: z.number().int().optional().describe('Times a fork was refused at the pids limit (pids.events max).'),
    diskBytes: z.number().int().optional().describe("Bytes the sandbox's writable layer holds on disk (allocated, not apparent sizes)."),
    diskExclusiveBytes: z.number().int().optional().describe('Bytes only this layer holds (not shared with a snapshot or a clone): what destroying the sandbox frees.'),
    diskLimitBytes: z.number().int().optional().describe('Its limit (resources.diskMb), on a layer driver that enforces one (btrfs).'),
    diskPoolBytes: z.number().int().optional().describe("Size of the storage pool every sandbox's writable layer shares."),
    diskPoolFreeBytes: z.number().int().optional().describe('Free space left in that pool.'),
  })
  .meta({ id: 'SandboxMetrics' })
export type SandboxMetrics = z.infer<typeof SandboxMetrics>
