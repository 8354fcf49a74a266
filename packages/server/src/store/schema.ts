/** @module store/schema — row types of the core tables. Areas declare their own tables beside their code. */
import type { Generated } from 'kysely'

/** Timestamps are ISO-8601 UTC strings (sortable as text in both SQLite and PostgreSQL); JSON columns are text. */
export interface SandboxRow {
  id: string
  project: string
  state: string
  reason: string
  template: string
  created_at: string
  updated_at: string
  expires_at: string
  timeout_ms: number
  lifecycle: string
  resources: string
  envs: string
  metadata: string
  deny_read: string
  runtime_ref: string | null
  owner: string
}

export interface TokenRow {
  id: string
  name: string
  project: string
  scopes: string
  secret_hash: string
  created_at: string
  expires_at: string | null
  revoked_at: string | null
}

export interface AuditRow {
  seq: number
  at: string
  actor: string
  project: string
  action: string
  target: string | null
  outcome: string
  request_id: string | null
  data: string | null
  prev_hash: string
  hash: string
  /** The canonical JSON text the hash covers (null on rows written before migration 0400). */
  body: string | null
  /** call.runId of the record (migration 1000); null when the call named no run. */
  run_id: string | null
}

/** A signed statement "the chain's record `seq` has hash `hash`", made at `at` by the key `key_id`. */
export interface AuditCheckpointRow {
  seq: number
  hash: string
  at: string
  key_id: string
  signature: string
}

export interface EventRow {
  seq: Generated<number>
  at: string
  project: string
  sandbox_id: string
  kind: string
  actor: string
  data: string
}

export interface CoreTables {
  sandboxes: SandboxRow
  tokens: TokenRow
  audit: AuditRow
  audit_checkpoints: AuditCheckpointRow
  events: EventRow
  snapshots: SnapshotRow
}

// ---------------------------------------------------------------- snapshots (migration 0600)

/** Merged into SandboxRow above (declaration merging keeps these columns beside their migration). */
export interface SandboxRow {
  /** The snapshot the sandbox started from (fromSnapshot, fork); null for one from a template. */
  parent_snapshot?: string | null
  /** JSON of the template build it started from ({ name, digest, layers }); null before 0600. */
  template_ref?: string | null
}

export interface SnapshotRow {
  id: string
  project: string
  sandbox_id: string
  parent: string | null
  template: string
  template_ref: string | null
  state: 'creating' | 'ready'
  size_bytes: number
  exclusive_bytes: number
  labels: string
  created_by: string
  created_at: string
  expires_at: string | null
  fork_point: number
}

// ---------------------------------------------------------------- templates (migration 0500-templates)

/** A template as of its last successful build: written only when a build completes, so it is whole or absent. */
export interface TemplateRow {
  project: string
  name: string
  description: string
  /** host | rootfs | image */
  base_kind: string
  base_digest: string
  /** Path or image reference, without credentials. */
  base_source: string | null
  /** What the runtime mounts below the layers: 'host' or a folder. */
  rootfs: string
  /** sha256 of the base digest and the layer keys. */
  digest: string
  /** JSON array of `{ key, step }` (the layers, lowest first, and the step index that made each). */
  layer_keys: string
  /** JSON: env, workdir, user, start, ready, resources. */
  defaults: string
  created_at: string
  updated_at: string
  last_build_id: string
}

/** One build: `building` while it runs (a restart turns it `failed`), then `ready` or `failed`. */
export interface TemplateBuildRow {
  id: string
  project: string
  name: string
  state: string
  started_at: string
  finished_at: string | null
  cached_steps: number
  built_steps: number
  error: string | null
  /** JSON array of the log's last lines (bounded). */
  log: string
}

/** A captured step: content-addressed by `key` within a project, shared by every template whose chain reaches it. */
export interface TemplateLayerRow {
  project: string
  key: string
  /** The runtime snapshot holding its files (tpl_…). */
  snapshot_id: string
  layer_path: string
  bytes: number
  exclusive_bytes: number
  created_at: string
  build_id: string
}

export type TemplateTables = {
  templates: TemplateRow
  template_builds: TemplateBuildRow
  template_layers: TemplateLayerRow
}

// ---------------------------------------------------------------- workflows (migration 0800-workflows)

/** One workflow run: the text and inputs as sent (replay), and what came of them. */
export interface WorkflowRunRow {
  id: string
  project: string
  name: string
  status: 'running' | 'passed' | 'failed'
  sandbox_id: string | null
  workflow: string
  /** JSON of the inputs as the caller sent them. */
  inputs_sent: string
  /** JSON of the inputs as resolved (defaults, types). */
  inputs: string
  /** JSON array of WorkflowStepResult. */
  steps: string
  /** JSON WorkflowTimings; null while running. */
  timings: string | null
  replay_of: string | null
  created_by: string
  created_at: string
  finished_at: string | null
}

export type WorkflowTables = {
  workflow_runs: WorkflowRunRow
}
