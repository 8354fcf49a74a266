/** @module contract/data — data sources, mirrors (schema + masked sample) and thin PostgreSQL clones. */
import { z } from 'zod'
import { boundedRecord, limits, PageInput, Timestamp, page } from './common.js'
import { SandboxId } from './sandbox.js'
import type { Operation } from './operation.js'

const tags = ['data']

export const DataSourceId = z
  .string()
  .max(limits.id)
  .regex(/^dsrc_[a-z0-9]{6,40}$/, 'data source ids look like dsrc_ followed by lowercase letters and digits')
  .describe('Data source id, e.g. dsrc_k3j9x2m1q8w7.')
export const MirrorId = z
  .string()
  .max(limits.id)
  .regex(/^dmir_[a-z0-9]{6,40}$/, 'mirror ids look like dmir_ followed by lowercase letters and digits')
  .describe('Mirror id, e.g. dmir_k3j9x2m1q8w7.')
export const CloneId = z
  .string()
  .max(limits.id)
  .regex(/^dcl_[a-z0-9]{6,40}$/, 'clone ids look like dcl_ followed by lowercase letters and digits')
  .describe('Clone id, e.g. dcl_k3j9x2m1q8w7.')
export const DataSnapshotId = z
  .string()
  .max(limits.id)
  .regex(/^dsnap_[a-z0-9]{6,40}$/, 'snapshot ids look like dsnap_ followed by lowercase letters and digits')
  .describe('Clone snapshot id.')
const DataName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'names are 1–63 lowercase letters, digits, - and _')

// ---------------------------------------------------------------- sources

export const CreateDataSourceInput = z
  .object({
    url: z
      .string()
      .max(2048)
      .regex(/^postgres(ql)?:\/\//, 'url must be a PostgreSQL URL: postgresql://user:password@host:5432/dbname')
      .describe('Connection URL of the source database. tidepool only reads from it (one read-only transaction per mirror build).'),
    name: DataName.optional().describe('Name, unique in the project (default: the database name).'),
  })
  .strict()
  .meta({ id: 'CreateDataSourceInput' })

export const DataSource = z
  .object({
    id: DataSourceId,
    project: z.string(),
    name: z.string(),
    url: z.string().describe('The URL with its password hidden.'),
    database: z.string(),
    serverVersion: z.string().describe('server_version of the source, e.g. 15.8.'),
    tables: z.number().int().describe('Tables found at registration.'),
    createdAt: Timestamp,
  })
  .meta({ id: 'DataSource' })
export type DataSource = z.infer<typeof DataSource>
export const DataSourceRef = z.object({ id: DataSourceId }).strict()
export const ListDataInput = z.object({ ...PageInput }).strict()
export const DataSourcePage = page(DataSource)

// ---------------------------------------------------------------- mirrors

/** Tables a sample may name one by one (a createMirror body is at most 1 MiB anyway). */
const maxSampledTables = 4096
const Percent = z.number().gt(0, 'percent must be greater than 0').max(100, 'percent must be at most 100')
const MaxRows = z.number().int().min(0).max(1_000_000_000)

export const TableSample = z
  .object({
    percent: Percent.optional().describe("Share of the table's rows to sample (Bernoulli, repeatable)."),
    maxRows: MaxRows.optional().describe('Cap on sampled rows of this table (rows added to keep foreign keys whole come on top).'),
    skip: z.boolean().optional().describe('Copy no rows of this table except those other rows reference.'),
  })
  .strict()

export const SampleSpec = z
  .object({
    percent: Percent.default(10).describe("Share of every table's rows to sample (default 10)."),
    maxRows: MaxRows.optional().describe('Cap on sampled rows per table.'),
    perTable: boundedRecord(z.string().min(1).max(limits.label), TableSample, maxSampledTables, 'tables in perTable')
      .default({})
      .describe('Overrides by table, keyed "schema.table" or "table" (public).'),
    seed: z.number().int().min(0).max(2_147_483_647).default(42).describe('Seed of the repeatable sample.'),
  })
  .strict()
  .meta({ id: 'SampleSpec' })

export const MaskKind = z
  .enum(['email', 'name', 'first_name', 'last_name', 'phone', 'hash', 'null', 'redact', 'keep'])
  .describe(
    'email/name/first_name/last_name/phone: deterministic fake of that kind; hash: keyed hash of the value; null; redact: the text "redacted"; keep: copy unchanged (overrides a default rule).',
  )
export type MaskKind = z.infer<typeof MaskKind>

export const MaskRule = z
  .object({
    column: z
      .string()
      .min(1)
      .max(256)
      // Four parts would otherwise be read as a bare column name (its first part) and mask far more than asked.
      .refine((c) => c.split('.').length <= 3 && !c.split('.').includes(''), 'a column pattern has one to three non-empty parts: "column", "table.column" or "schema.table.column"')
      .describe('Which columns: "column", "table.column" or "schema.table.column"; * matches any run of characters (e.g. "*email*", "users.*_name").'),
    rule: MaskKind,
  })
  .strict()
  .meta({ id: 'MaskRule' })

export const MaskingSpec = z
  .object({
    defaults: z.boolean().default(true).describe('Apply built-in rules to columns whose names look personal (email, first/last/full name, phone, address, ssn, birth date, ip, token, password).'),
    content: z
      .boolean()
      .default(true)
      .describe(
        'Also scan text and JSON columns that no rule masks for personal data by content (emails, phone numbers, Luhn-valid card numbers, mod-97-valid IBANs, names that are values of masked name columns) and mask just those spans.',
      ),
    rules: z.array(MaskRule).max(500).default([]).describe('Explicit rules; they win over the defaults, the first matching rule wins.'),
  })
  .strict()
  .meta({ id: 'MaskingSpec' })
const defaultMasking = { defaults: true, content: true, rules: [] }
const defaultSample = { percent: 10, perTable: {}, seed: 42 }

export const CreateMirrorInput = z
  .object({
    id: DataSourceId.describe('The data source to mirror.'),
    name: DataName.optional().describe('Mirror name, unique in the project (default: the source name). Mirroring again under an existing name refreshes that mirror.'),
    sample: SampleSpec.default(defaultSample),
    masking: MaskingSpec.default(defaultMasking),
    refreshEverySeconds: z.number().int().min(60).max(2_592_000).optional().describe('Rebuild on this schedule (none by default).'),
    wait: z.boolean().default(true).describe('Answer once the mirror is built (default). false: answer at once with state "building"; follow progress with GET /v1/data/mirrors/{id}.'),
  })
  .strict()
  .meta({ id: 'CreateMirrorInput' })

export const PiiCounts = z
  .object({
    email: z.number().int(),
    phone: z.number().int().describe('E.164 (+ and 8–15 digits) or national (10 digits, or 11 after a 0/1 trunk prefix, in 2+ groups).'),
    card: z.number().int().describe('13–19 digits (single spaces or dashes between groups) passing Luhn.'),
    iban: z.number().int().describe("Country code, check digits and the country's IBAN length, passing mod 97."),
    name: z.number().int().describe('Capitalised words that are values of the masked name columns.'),
  })
  .describe('Spans found by content, per detector.')

export const ColumnMasking = z.object({
  column: z.string(),
  type: z.string().describe('PostgreSQL type.'),
  masking: z.enum(['name', 'content', 'none']).describe('name: a rule masks the whole value; content: spans found inside were masked; none: left as is (see reason).'),
  rule: MaskKind.optional().describe('The rule, for masking "name".'),
  scanned: z.number().int().optional().describe('Values scanned by content (non-NULL).'),
  masked: z.number().int().optional().describe('Values in which at least one span was masked.'),
  found: PiiCounts.optional(),
  reason: z.string().optional().describe('Why a column is left as is: not text, a key column, an explicit keep rule, content scanning off, or nothing found.'),
})

export const TableMasking = z.object({
  table: z.string().describe('schema.table'),
  rows: z.number().int().describe('Rows looked at (dry run: the sample read; build: rows copied).'),
  columns: z.array(ColumnMasking),
})

export const MaskingReport = z
  .object({
    dryRun: z.boolean().describe('true: a plan from a sample, nothing was built.'),
    content: z.boolean().describe('Content scanning was on.'),
    nameColumns: z.array(z.string()).describe('Masked name columns (schema.table.column) whose values taught the name detector.'),
    namesLearned: z.number().int().describe('Distinct name words learned from them.'),
    tables: z.array(TableMasking),
    found: PiiCounts.describe('Totals over all tables.'),
    warnings: z.array(z.string()),
  })
  .meta({ id: 'MaskingReport' })
export type MaskingReport = z.infer<typeof MaskingReport>

export const PlanMaskingInput = z
  .object({
    id: DataSourceId.describe('The data source to plan a mirror of.'),
    sample: SampleSpec.default(defaultSample).describe("The mirror's sample: the dry run reads the first rowsPerTable rows of each table's sample."),
    masking: MaskingSpec.default(defaultMasking),
    rowsPerTable: z.number().int().min(1).max(100_000).default(1000).describe('Rows read per table to scan (default 1000).'),
  })
  .strict()
  .meta({ id: 'PlanMaskingInput' })

export const MirrorTableReport = z.object({
  table: z.string().describe('schema.table'),
  sourceRows: z.number().int().describe('Rows in the source (planner estimate for large tables).'),
  rows: z.number().int().describe('Rows in the mirror.'),
  sampled: z.number().int().describe('Rows picked by the sample.'),
  addedForKeys: z.number().int().describe('Rows added so every foreign key of the sample points at a row.'),
  masked: z.array(z.object({ column: z.string(), rule: MaskKind })).describe('Masked columns and their rule.'),
})

export const MirrorReport = z
  .object({
    tables: z.array(MirrorTableReport),
    rows: z.number().int(),
    bytes: z.number().int().describe("Size of the mirror's data directory."),
    durationMs: z.number(),
    phasesMs: z.record(z.string(), z.number()).optional().describe('Time per build phase: setup (catalog, server), schema, data, constraints (indexes, keys), finish (vacuum, checkpoint).'),
    rowsPerSecond: z.number(),
    pgVersion: z.string().describe('Major version of the PostgreSQL serving the mirror and its clones.'),
    warnings: z.array(z.string()),
    masking: MaskingReport.optional().describe('What was masked, by name and by content, column by column (builds since content masking).'),
  })
  .meta({ id: 'MirrorReport' })
export type MirrorReport = z.infer<typeof MirrorReport>

export const MirrorProgress = z.object({
  phase: z.enum(['queued', 'schema', 'data', 'constraints', 'finish']),
  table: z.string().optional(),
  tablesDone: z.number().int(),
  tables: z.number().int(),
  rows: z.number().int(),
})

export const Mirror = z
  .object({
    id: MirrorId,
    project: z.string(),
    name: z.string(),
    sourceId: DataSourceId,
    state: z.enum(['building', 'ready', 'failed']).describe('building (first build), ready (clonable; a refresh keeps it ready), failed.'),
    database: z.string(),
    pgVersion: z.string(),
    sample: SampleSpec,
    masking: MaskingSpec,
    refreshEverySeconds: z.number().int().optional(),
    createdAt: Timestamp,
    refreshedAt: Timestamp.optional(),
    refreshing: z.boolean().describe('A build is running.'),
    progress: MirrorProgress.optional(),
    report: MirrorReport.optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional().describe('Why the last build failed.'),
    clones: z.number().int().describe('Live clones of this mirror.'),
  })
  .meta({ id: 'Mirror' })
export type Mirror = z.infer<typeof Mirror>
export const MirrorRef = z.object({ id: z.string().min(1).max(limits.id).describe('Mirror id or name.') }).strict()
export const RefreshMirrorInput = MirrorRef.extend({ wait: z.boolean().default(true) }).strict()
export const MirrorPage = page(Mirror)

// ---------------------------------------------------------------- clones

export const CreateCloneInput = z
  .object({
    mirror: z.string().min(1).max(limits.id).describe('Mirror id or name.'),
    sandbox: SandboxId.optional().describe("Bind to this sandbox: it gets DATABASE_URL over the clone's Unix socket."),
    ttlSeconds: z
      .number()
      .int()
      .min(60, 'ttlSeconds must be at least 60')
      .max(604_800, 'ttlSeconds must be at most 604800 (7 days)')
      .optional()
      .describe('Time to live (default data.defaultTtlSeconds).'),
  })
  .strict()
  .meta({ id: 'CreateCloneInput' })

export const DataSnapshot = z
  .object({
    id: DataSnapshotId,
    cloneId: CloneId,
    createdAt: Timestamp,
    label: z.string().optional(),
  })
  .meta({ id: 'DataSnapshot' })
export type DataSnapshot = z.infer<typeof DataSnapshot>

export const Clone = z
  .object({
    id: CloneId,
    project: z.string(),
    mirrorId: MirrorId,
    sandbox: z.string().optional(),
    state: z.enum(['ready', 'stopped']).describe('ready: accepting connections; stopped: the server is down (tidepool restarts it).'),
    strategy: z.enum(['reflink', 'template']).describe('reflink: own server on a reflinked data dir; template: a database copied with CREATE DATABASE … TEMPLATE (fallback).'),
    url: z.string().describe("postgresql:// URL over TCP 127.0.0.1 with the clone's own credentials."),
    host: z.string(),
    port: z.number().int(),
    socketDir: z.string().describe('Unix socket directory on the host (bound into the sandbox when one is given).'),
    database: z.string(),
    user: z.string(),
    password: z.string(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
    resetAt: Timestamp.optional(),
    diskBytes: z.number().int().describe('Bytes this clone holds alone (extents not shared with its mirror), as last measured.'),
    snapshots: z.array(DataSnapshot),
  })
  .meta({ id: 'Clone' })
export type Clone = z.infer<typeof Clone>
export const CloneRef = z.object({ id: CloneId }).strict()
export const ClonePage = page(Clone)
export const PatchCloneInput = z.object({ id: CloneId, ttlSeconds: z.number().int().min(60).max(604_800).describe('New time to live, counted from now.') }).strict()
export const CreateDataSnapshotInput = z.object({ id: CloneId, label: z.string().max(128).optional() }).strict()
export const ResetCloneInput = z
  .object({
    id: CloneId,
    to: z
      .union([z.literal('start'), DataSnapshotId])
      .default('start')
      .describe('"start" (the mirror\'s state) or a snapshot id of this clone.'),
  })
  .strict()

export const dataOps = {
  createDataSource: {
    method: 'POST',
    path: '/v1/data/sources',
    summary: 'Register a source PostgreSQL database (checked: reachable, readable)',
    scope: 'data:write',
    input: CreateDataSourceInput,
    output: DataSource,
    status: 201,
    tags,
  },
  listDataSources: { method: 'GET', path: '/v1/data/sources', summary: 'List data sources', scope: 'data:read', input: ListDataInput, output: DataSourcePage, tags },
  deleteDataSource: {
    method: 'DELETE',
    path: '/v1/data/sources/{id}',
    summary: 'Forget a data source (its mirrors must be deleted first)',
    scope: 'data:write',
    input: DataSourceRef,
    output: 'empty',
    status: 204,
    tags,
  },
  createMirror: {
    method: 'POST',
    path: '/v1/data/sources/{id}/mirror',
    summary: 'Build (or refresh) a mirror: full schema, FK-consistent sample, masked before it lands',
    scope: 'data:write',
    input: CreateMirrorInput,
    output: Mirror,
    status: 201,
    tags,
  },
  planMasking: {
    method: 'POST',
    path: '/v1/data/sources/{id}/mask-plan',
    summary: 'Dry run of a mirror build: sample the source and report, per column, what would be masked by name, by content (counts per detector) or left as is',
    scope: 'data:write',
    input: PlanMaskingInput,
    output: MaskingReport,
    tags,
  },
  listMirrors: { method: 'GET', path: '/v1/data/mirrors', summary: 'List mirrors', scope: 'data:read', input: ListDataInput, output: MirrorPage, tags },
  getMirror: { method: 'GET', path: '/v1/data/mirrors/{id}', summary: 'Get a mirror with its build progress and report', scope: 'data:read', input: MirrorRef, output: Mirror, tags },
  refreshMirror: {
    method: 'POST',
    path: '/v1/data/mirrors/{id}/refresh',
    summary: 'Rebuild a mirror from its source with its sample and masking (clones keep their data)',
    scope: 'data:write',
    input: RefreshMirrorInput,
    output: Mirror,
    tags,
  },
  deleteMirror: {
    method: 'DELETE',
    path: '/v1/data/mirrors/{id}',
    summary: 'Delete a mirror (its clones must be destroyed first)',
    scope: 'data:write',
    input: MirrorRef,
    output: 'empty',
    status: 204,
    tags,
  },
  createClone: {
    method: 'POST',
    path: '/v1/data/clones',
    summary: 'Create a thin writable clone of a mirror, with its own server and credentials',
    scope: 'data:write',
    input: CreateCloneInput,
    output: Clone,
    status: 201,
    mcp: true,
    tags,
  },
  listClones: { method: 'GET', path: '/v1/data/clones', summary: 'List clones', scope: 'data:read', input: ListDataInput, output: ClonePage, tags },
  getClone: { method: 'GET', path: '/v1/data/clones/{id}', summary: 'Get a clone', scope: 'data:read', input: CloneRef, output: Clone, tags },
  patchClone: { method: 'PATCH', path: '/v1/data/clones/{id}', summary: "Extend (or shorten) a clone's TTL", scope: 'data:write', input: PatchCloneInput, output: Clone, tags },
  deleteClone: {
    method: 'DELETE',
    path: '/v1/data/clones/{id}',
    summary: 'Destroy a clone: server, data, socket and snapshots (idempotent)',
    scope: 'data:write',
    input: CloneRef,
    output: 'empty',
    status: 204,
    mcp: true,
    tags,
  },
  createCloneSnapshot: {
    method: 'POST',
    path: '/v1/data/clones/{id}/snapshots',
    summary: 'Snapshot a clone (a known state to reset to)',
    scope: 'data:write',
    input: CreateDataSnapshotInput,
    output: DataSnapshot,
    status: 201,
    tags,
  },
  resetClone: {
    method: 'POST',
    path: '/v1/data/clones/{id}/reset',
    summary: "Reset a clone to the mirror's state or to one of its snapshots",
    scope: 'data:write',
    input: ResetCloneInput,
    output: Clone,
    mcp: true,
    tags,
  },
} as const satisfies Record<string, Operation>
