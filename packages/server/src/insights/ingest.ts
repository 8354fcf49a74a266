/** @module insights/ingest — runs, JUnit reports (idempotent, gzip, per-file problems) and run events into the store. */
import { systemActors } from '../audit/system-actor.js'
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import type { CreateRunInput, FileProblem, JunitIngestResult, Run, RunEvent } from '@tidepool/sdk'
import type { z } from 'zod'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { capText } from './clean.js'
import type { InsightsEnv } from './deps.js'
import { variantKeyOf } from './identity.js'
import { parseJunit, type Framework, type ParsedCase } from './junit.js'
import { isDefaultBranch, loadSettings, parseJson, runFromRow } from './runs.js'
import { isInfraLike, signatureOf } from './signature.js'
import { outcomeCode, type FileRow, type ResultRow, type RunRow } from './tables.js'
import { writeFileBatch, type FileBatch } from './write.js'

type CreateRun = z.output<typeof CreateRunInput>

export async function getRunRow(env: InsightsEnv, project: string, id: string): Promise<RunRow> {
  const row = await env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst()
  if (!row) throw new AppError('not_found', `run ${id} not found; create it first with POST /v1/runs (or tidepool runs create)`)
  return row
}

export async function runView(env: InsightsEnv, row: RunRow): Promise<Run> {
  const settings = await loadSettings(env.db, row.project, env.cfg)
  return runFromRow(row, isDefaultBranch(row.branch, settings, env.cfg))
}

/** Registers a run. Same id and same fields again: returns the run (idempotent); different fields: conflict. */
export async function createRun(env: InsightsEnv, project: string, input: CreateRun): Promise<Run> {
  const id = input.id ?? newId('run')
  let at = env.clock.now()
  if (input.startedAt !== undefined) {
    at = Date.parse(input.startedAt)
    if (Number.isNaN(at)) throw new AppError('invalid_request', `startedAt must be an RFC 3339 timestamp (got ${JSON.stringify(input.startedAt)})`)
  }
  const variantKey = variantKeyOf(input.variant)
  const existing = await env.db.selectFrom('insight_runs').selectAll().where('project', '=', project).where('id', '=', id).executeTakeFirst()
  if (existing) {
    const same =
      existing.commit_sha === input.commit &&
      existing.branch === input.branch &&
      existing.attempt === input.attempt &&
      existing.variant_key === variantKey &&
      (input.tree === undefined || existing.tree === input.tree) &&
      (input.pipeline === undefined || existing.pipeline === input.pipeline) &&
      (input.pr === undefined || existing.pr === input.pr)
    if (!same) {
      throw new AppError(
        'conflict',
        `run ${id} already exists with commit ${existing.commit_sha}, branch ${existing.branch}, attempt ${existing.attempt}, variant "${existing.variant_key}"; use a new run id for a different run`,
      )
    }
    if (input.infra) {
      const infra = { ...parseJson<Record<string, unknown>>(existing.infra), ...input.infra }
      await env.db
        .updateTable('insight_runs')
        .set({ infra: JSON.stringify(infra) })
        .where('project', '=', project)
        .where('id', '=', id)
        .execute()
      existing.infra = JSON.stringify(infra)
    }
    return runView(env, existing)
  }
  const settings = await loadSettings(env.db, project, env.cfg)
  const arm = settings.mode === 'ab' ? (unitHash(id) < settings.abAutoShare ? 'auto' : 'suggest') : settings.mode
  const row: RunRow = {
    project,
    id,
    commit_sha: input.commit,
    tree: input.tree ?? null,
    code_key: input.tree ?? input.commit,
    branch: input.branch,
    attempt: input.attempt,
    variant: JSON.stringify(input.variant),
    variant_key: variantKey,
    started_at: new Date(at).toISOString(),
    at,
    finished_at: null,
    pipeline: input.pipeline ?? null,
    pr: input.pr ?? null,
    infra: input.infra ? JSON.stringify(input.infra) : null,
    changed_files: input.changedFiles ? JSON.stringify([...new Set(input.changedFiles)].sort()) : null,
    arm,
    status: 'running',
    analyzed: 0,
    tests: 0,
    failed: 0,
    flaky: 0,
    skipped: 0,
    files: 0,
    file_errors: 0,
    test_ms: 0,
    infra_suspect: 0,
    infra_reason: null,
    created_at: new Date(env.clock.now()).toISOString(),
  }
  await env.db
    .insertInto('insight_runs')
    .values(row)
    .onConflict((oc) => oc.columns(['project', 'id']).doNothing())
    .execute()
  if (settings.mode === 'ab') {
    await env.audit.append({ actor: systemActors.abAssign, project, action: 'insights.abAssign', target: id, outcome: arm, data: { mode: 'ab', autoShare: settings.abAutoShare } })
  }
  return runView(env, row)
}

/** Deterministic value in [0, 1) from a run id (A/B arm assignment). */
function unitHash(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0) / 2 ** 32
}

export interface IngestOptions {
  name?: string | undefined
  framework?: Framework | undefined
  root?: string | undefined
}

/** Ingests one JUnit report into a run. Problems with the file are returned (and make the run incomplete), never thrown. */
export async function ingestJunit(env: InsightsEnv, project: string, runId: string, body: Uint8Array, opts: IngestOptions = {}): Promise<JunitIngestResult> {
  const run = await getRunRow(env, project, runId)
  const hash = createHash('sha256').update(body).digest('hex')
  const name = opts.name ?? `sha256-${hash.slice(0, 12)}.xml`
  const fileId = `f_${createHash('sha256').update(name).digest('hex').slice(0, 16)}`
  const prev = await env.db.selectFrom('insight_files').selectAll().where('project', '=', project).where('run_id', '=', runId).where('id', '=', fileId).executeTakeFirst()
  if (prev && prev.hash === hash) return fileResult(runId, prev, true, false)

  const errors: FileProblem[] = []
  let bytes: Uint8Array | undefined = body
  if (body[0] === 0x1f && body[1] === 0x8b) {
    try {
      bytes = gunzipSync(body, { maxOutputLength: env.cfg.maxJunitBytes })
    } catch (err) {
      bytes = undefined
      const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError
      errors.push(
        tooLarge
          ? { file: name, kind: 'too_large', message: `decompressed report exceeds insights.maxJunitBytes (${env.cfg.maxJunitBytes} bytes); split it or raise the limit` }
          : { file: name, kind: 'unreadable', message: `gzip data is corrupt: ${(err as Error).message}` },
      )
    }
  } else if (body.byteLength > env.cfg.maxJunitBytes) {
    bytes = undefined
    errors.push({ file: name, kind: 'too_large', message: `report is ${body.byteLength} bytes, over insights.maxJunitBytes (${env.cfg.maxJunitBytes}); split it or raise the limit` })
  }
  const parsed = bytes
    ? parseJunit(bytes, { file: name, framework: opts.framework, root: opts.root, messageMaxChars: env.cfg.messageMaxChars })
    : { framework: opts.framework ?? ('junit' as Framework), cases: [] as ParsedCase[], errors: [] as FileProblem[], warnings: [] as FileProblem[] }
  errors.push(...parsed.errors)

  const at = run.at
  const results: ResultRow[] = []
  const tests: FileBatch['tests'] = []
  const signatures = new Map<string, { text: string; example: string; infraLike: boolean }>()
  let failures = 0
  let flaky = 0
  let skipped = 0
  for (const c of parsed.cases) {
    let signature: string | null = null
    let message: string | null = null
    if (c.fails > 0 && c.failure) {
      const sig = signatureOf(c.failure)
      signature = sig.id
      const head = [c.failure.type, c.failure.message].filter(Boolean).join(': ')
      message = capText([head, c.failure.text].filter(Boolean).join('\n'), env.cfg.messageMaxChars)
      if (!signatures.has(sig.id)) signatures.set(sig.id, { text: sig.text, example: capText(head || c.failure.text, 500), infraLike: isInfraLike(message) })
    } else if (c.fails > 0) {
      const sig = signatureOf({})
      signature = sig.id
      signatures.set(sig.id, { text: sig.text, example: '(no message)', infraLike: false })
    }
    if (c.outcome === 'fail') failures++
    else if (c.outcome === 'skip') skipped++
    else if (c.fails > 0) flaky++
    results.push({
      project,
      run_id: runId,
      file_id: fileId,
      test_id: c.testId,
      at,
      outcome: outcomeCode[c.outcome],
      attempts: c.attempts,
      fails: c.fails,
      duration_ms: c.durationMs ?? null,
      signature,
      message,
    })
    tests.push({ id: c.testId, framework: parsed.framework, file: c.file, suite: c.suite, name: c.name })
  }
  const summary = { errors, warnings: parsed.warnings, flaky, skipped }
  const file: FileRow = {
    project,
    run_id: runId,
    id: fileId,
    name,
    hash,
    framework: parsed.framework,
    tests: parsed.cases.length,
    failures,
    errors: errors.length,
    summary: JSON.stringify(summary),
    created_at: new Date(env.clock.now()).toISOString(),
  }
  const known = env.knownTests.get(project) ?? new Set<string>()
  env.knownTests.set(project, known)
  const newTests = tests.filter((t) => !known.has(t.id))
  await writeFileBatch(env, { project, runId, at, fileId, replace: prev !== undefined, results, tests: newTests, signatures, file })
  for (const t of newTests) known.add(t.id)
  return fileResult(runId, file, false, prev !== undefined)
}

function fileResult(runId: string, f: FileRow, duplicate: boolean, replaced: boolean): JunitIngestResult {
  const s = parseJson<{ errors: FileProblem[]; warnings: FileProblem[]; flaky: number; skipped: number }>(f.summary) ?? { errors: [], warnings: [], flaky: 0, skipped: 0 }
  return {
    runId,
    file: f.name,
    framework: f.framework as JunitIngestResult['framework'],
    tests: f.tests,
    failures: f.failures,
    flaky: s.flaky,
    skipped: s.skipped,
    duplicate,
    replaced,
    errors: s.errors,
    warnings: s.warnings,
  }
}

/** Appends seed-schema events to a run. */
export async function ingestEvents(env: InsightsEnv, project: string, runId: string, events: readonly RunEvent[]): Promise<number> {
  await getRunRow(env, project, runId)
  const now = env.clock.now()
  const rows = events.map((e) => {
    const at = e.timestamp ? Date.parse(e.timestamp) : now
    if (Number.isNaN(at)) throw new AppError('invalid_request', `events: timestamp must be an RFC 3339 timestamp (got ${JSON.stringify(e.timestamp)})`)
    return { project, run_id: runId, kind: e.kind ?? 'event', at, test_id: e.test_id ?? null, pr: e.pr ?? null, body: JSON.stringify({ ...e, run_id: runId }) }
  })
  await env.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 500)
      await trx
        .insertInto('insight_events')
        .values(rows.slice(i, i + 500))
        .execute()
  })
  return rows.length
}
