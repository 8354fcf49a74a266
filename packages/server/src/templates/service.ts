/**
 * @module templates/service — builds templates into content-addressed layer stacks, lists, inspects
 * and deletes them, and resolves them for the sandboxes area (TemplateResolver).
 *
 * Crash safety: a template row is written in one statement at the end of a successful build, so a
 * template is whole or absent. A layer row is written only after its runtime snapshot exists; what a
 * crash leaves (a `building` build, snapshots without a row, rows no template uses, build sandboxes)
 * is removed by `reconcile()` on start. Builds, deletes and layer collection of one project run one at
 * a time (a mutex per project), so a layer is never collected while a build is about to use it.
 */
import type { BuildTemplateInput, TemplateInfo as Template, TemplateBuildEvent } from '@tidepool/sdk'
import { lstatSync } from 'node:fs'
import { join } from 'node:path'
import type { z } from 'zod'
import type { Clock } from '../core/clock.js'
import { AppError } from '../core/errors.js'
import { newId } from '../core/ids.js'
import type { Logger } from '../core/log.js'
import { KeyedMutex } from '../core/mutex.js'
import { encodeCursor } from '../kit/cursor.js'
import type { ResourceLimits, Runtime } from '../runtime/runtime.js'
import type { Db } from '../store/db.js'
import type { NetworkSeam } from '../kit/network-seam.js'
import type { ResolvedTemplate, TemplateResolver, TemplateUsage } from '../kit/template-seam.js'
import { HOST_BASE_DIGEST, resolveBase, whyAdminOnly } from './base.js'
import { buildLayer } from './build-sandbox.js'
import { BuildLog } from './build-log.js'
import { LayerStore } from './layer-store.js'
import type { ImportImage, RemoveImage } from './oci-api.js'
import { argvOf, planBuild, templateDigest } from './plan.js'
import { parseRecord, templatesDb, type LayerKey, type TemplateDefaults, type TemplateRow, type TemplatesDb } from './tables.js'
import { BUILT_IN_NAME, builtInTemplate, isBuiltInName, templateView } from './views.js'

/** A build request as the schema parsed it (defaults filled in). */
export type ParsedBuildInput = z.output<typeof BuildTemplateInput>

export interface TemplateDeps {
  db: Db
  runtime: Runtime
  clock: Clock
  log: Logger
  /** Live sandboxes per template (from the sandboxes area), asked before a delete. */
  usage: TemplateUsage
  /** Resources of build sandboxes (a template's own resources override them). */
  buildResources: ResourceLimits
  /** Imports an OCI image base (templates/oci); absent: image bases are refused with runtime_unavailable. */
  importImage?: ImportImage | undefined
  removeImage?: RemoveImage | undefined
  /** Where imported images live (importImage's storeDir). */
  imageStoreDir: string
  /** The runtime's uid base (image files are shifted by it). */
  uidBase: number
  /** Registry hosts a project token may pull from (config templates.registries); others need admin. */
  registries: readonly string[]
  /** The egress proxy (when wired): run steps of a template with a network policy get egress under it. */
  network?: NetworkSeam | undefined
}

/** Who builds: the project, and whether the token is admin (host-path bases need it). */
export interface Builder {
  project: string
  admin: boolean
}

export interface BuildOptions {
  onProgress?: (e: TemplateBuildEvent) => void
  signal?: AbortSignal | undefined
}

/** Whether a root filesystem has a /bin/sh to run the prepare step with (merged-usr or not). */
function hasShell(rootfs: string): boolean {
  return ['bin/sh', 'usr/bin/sh'].some((p) => lstatSync(join(rootfs, p), { throwIfNoEntry: false }) !== undefined)
}

type Page<T> = { items: T[]; nextToken?: string }

export class TemplateService implements TemplateResolver {
  readonly #db: TemplatesDb
  readonly #mutex = new KeyedMutex()
  readonly #layers: LayerStore
  /** Logs of the builds running now (a finished build's log is in its row). */
  readonly #running = new Map<string, BuildLog>()

  constructor(private readonly deps: TemplateDeps) {
    this.#db = templatesDb(deps.db)
    this.#layers = new LayerStore(this.#db, deps.runtime, deps.log)
  }

  async build(who: Builder, input: ParsedBuildInput, o: BuildOptions = {}): Promise<Template> {
    if (isBuiltInName(input.name)) throw new AppError('invalid_request', `template name ${input.name} is the built-in host template's; choose another name`, [{ path: 'name', message: 'reserved' }])
    const adminOnly = whyAdminOnly(input.base, this.deps.registries)
    if (adminOnly && !who.admin) {
      throw new AppError('policy_denied', `${adminOnly}: it needs an admin token (use the host base or an image of an allowed registry otherwise)`, { required: 'admin', path: 'base' })
    }
    const policy = input.network
    if (policy && (policy.allowedDomains.length > 0 || policy.deniedDomains.length > 0) && !(this.deps.network && this.deps.runtime.network)) {
      throw new AppError('invalid_request', 'network: egress is not available on this server (no egress proxy or no per-sandbox links), so build steps run offline; remove network', [
        { path: 'network', message: 'egress not available' },
      ])
    }
    return this.#mutex.run(who.project, () => this.#build(who.project, input, o))
  }

  async #build(project: string, input: ParsedBuildInput, o: BuildOptions): Promise<Template> {
    const { clock, runtime } = this.deps
    const buildId = newId('tbld')
    const log = new BuildLog()
    this.#running.set(buildId, log)
    const of = input.steps.length
    const emit = (e: TemplateBuildEvent) => {
      log.push(e.line === undefined ? `[${e.step + 1}/${of}] ${e.phase}${e.cached ? ' (cached)' : ''}` : e.phase === 'output' ? e.line : `[${e.step + 1}/${of}] ${e.phase}: ${e.line}`)
      o.onProgress?.(e)
    }
    const startedAt = new Date(clock.now()).toISOString()
    await this.#db
      .insertInto('template_builds')
      .values({ id: buildId, project, name: input.name, state: 'building', started_at: startedAt, finished_at: null, cached_steps: 0, built_steps: 0, error: null, log: '[]' })
      .execute()
    let cached = 0
    let built = 0
    try {
      emit({ step: -1, of, cached: false, phase: 'resolve', line: 'host' in input.base ? 'host' : 'rootfs' in input.base ? `rootfs ${input.base.rootfs}` : 'image' })
      const base = await resolveBase(input.base, {
        importImage: this.deps.importImage,
        storeDir: this.deps.imageStoreDir,
        uidBase: this.deps.uidBase,
        signal: o.signal,
        onProgress: (p) => emit({ step: -1, of, cached: false, phase: p.phase, line: `${p.done}/${p.total}${p.detail ? ` ${p.detail}` : ''}` }),
      })
      // noCache: a root key of its own, so every layer is new (and nothing cached is replaced under a sandbox).
      const plan = planBuild(project, input.noCache ? `${base.digest}#nocache:${buildId}` : base.digest, input.steps, {
        env: { ...base.env, ...input.env },
        workdir: input.workdir ?? base.workdir,
        user: input.user,
        prepare: base.kind !== 'host' && hasShell(base.rootfs),
        network: input.network,
      })
      const known = await this.#layers.rows(
        project,
        plan.steps.filter((s) => s.action).map((s) => s.key),
      )
      const stack: LayerKey[] = []
      /** The snapshot of the last layer made or found: the next step starts from it. */
      let from: string | undefined
      for (const step of plan.steps) {
        // A client that went away (a streamed build) stops the build between steps too.
        if (o.signal?.aborted) throw new AppError('conflict', `the build of ${input.name} was cancelled before step ${step.index + 1} (the client went away)`)
        if (!step.action) {
          emit({ step: step.index, of, cached: true, phase: 'metadata', line: step.label })
          continue
        }
        const hit = known.get(step.key)
        if (hit) {
          cached++
          emit({ step: step.index, of, cached: true, phase: 'cache', line: step.label })
        } else {
          const snapshots = runtime.snapshots
          if (!snapshots)
            throw new AppError(
              'runtime_unavailable',
              `the ${runtime.kind} runtime cannot capture layers, so copy and run steps cannot be built here; use a runtime with snapshots (the local runtime)`,
              [{ path: `steps.${step.index}`, message: 'needs runtime snapshots' }],
            )
          emit({ step: step.index, of, cached: false, phase: 'start', line: step.label })
          const snap = await buildLayer(
            {
              runtime,
              snapshots,
              resources: { ...this.deps.buildResources, ...definedOf(input.resources) },
              templateName: input.name,
              rootfs: base.rootfs,
              from,
              signal: o.signal,
              ...(this.deps.network ? { egress: { network: this.deps.network, project } } : {}),
              onLine: (line) => emit({ step: step.index, of, cached: false, phase: 'output', line }),
            },
            step.index,
            step.action,
            this.#layers.snapshotIdOf(step.key),
          )
          emit({ step: step.index, of, cached: false, phase: 'snapshot', line: `${snap.bytes} bytes` })
          known.set(step.key, await this.#layers.record(project, step.key, snap, buildId, new Date(clock.now()).toISOString()))
          built++
        }
        stack.push({ key: step.key, step: step.index })
        from = this.#layers.snapshotIdOf(step.key)
      }
      const defaults: TemplateDefaults = {
        env: plan.env,
        workdir: plan.workdir,
        user: plan.user,
        start: input.start === undefined ? undefined : argvOf(input.start),
        ready: input.ready && { cmd: argvOf(input.ready.cmd), timeoutMs: input.ready.timeoutMs, intervalMs: input.ready.intervalMs },
        resources: input.resources,
        network: input.network,
      }
      const now = new Date(clock.now()).toISOString()
      const row: TemplateRow = {
        project,
        name: input.name,
        description: input.description,
        base_kind: base.kind,
        base_digest: base.digest,
        base_source: base.source ?? null,
        rootfs: base.rootfs,
        digest: templateDigest(
          base.digest,
          stack.map((l) => l.key),
        ),
        layer_keys: JSON.stringify(stack),
        defaults: JSON.stringify(defaults),
        created_at: now,
        updated_at: now,
        last_build_id: buildId,
      }
      const { project: _p, name: _n, created_at: _c, ...changed } = row
      // One statement: the template appears (or changes) whole, or not at all.
      await this.#db
        .insertInto('templates')
        .values(row)
        .onConflict((oc) => oc.columns(['project', 'name']).doUpdateSet(changed))
        .execute()
      emit({ step: of - 1, of, cached: built === 0, phase: 'done', line: `${row.digest} (${cached} cached, ${built} built)` })
      const finished = await this.#finish(buildId, log, 'ready', cached, built)
      const stored = await this.#db.selectFrom('templates').selectAll().where('project', '=', project).where('name', '=', input.name).executeTakeFirstOrThrow()
      return templateView(stored, known, finished)
    } catch (err) {
      emit({ step: Math.max(0, built + cached), of, cached: false, phase: 'failed', line: (err as Error).message.split('\n')[0] ?? '' })
      await this.#finish(buildId, log, 'failed', cached, built, (err as Error).message).catch((e: unknown) => this.deps.log.error({ err: e }, 'templates: recording a failed build failed'))
      throw err
    } finally {
      this.#running.delete(buildId)
    }
  }

  async #finish(id: string, log: BuildLog, state: 'ready' | 'failed', cached: number, built: number, error?: string) {
    const finished_at = new Date(this.deps.clock.now()).toISOString()
    const set = { state, finished_at, cached_steps: cached, built_steps: built, error: error?.slice(0, 8192) ?? null, log: JSON.stringify(log.lines()) }
    await this.#db.updateTable('template_builds').set(set).where('id', '=', id).execute()
    return this.#db.selectFrom('template_builds').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
  }

  async list(project: string, q: { limit: number; after?: string | undefined }): Promise<Page<Template>> {
    let query = this.#db
      .selectFrom('templates')
      .selectAll()
      .where('project', '=', project)
      .orderBy('name')
      .limit(q.limit + 1)
    if (q.after !== undefined) query = query.where('name', '>', q.after)
    const rows = await query.execute()
    const layers = await this.#layers.rows(
      project,
      rows.flatMap((r) => (JSON.parse(r.layer_keys) as LayerKey[]).map((k) => k.key)),
    )
    const items = rows.map((r) => templateView(r, layers))
    if (q.after === undefined || BUILT_IN_NAME > q.after) items.push(builtInTemplate())
    items.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    if (items.length <= q.limit) return { items }
    const page = items.slice(0, q.limit)
    return { items: page, nextToken: encodeCursor(page[page.length - 1]!.name) }
  }

  async get(project: string, name: string): Promise<Template> {
    if (isBuiltInName(name)) return { ...builtInTemplate(), usedBy: await this.deps.usage.liveSandboxesUsing(project, BUILT_IN_NAME) }
    const row = await this.#row(project, name)
    const [layers, build, usedBy] = await Promise.all([
      this.#layers.rows(
        project,
        (JSON.parse(row.layer_keys) as LayerKey[]).map((k) => k.key),
      ),
      this.#db.selectFrom('template_builds').selectAll().where('project', '=', project).where('name', '=', name).orderBy('started_at', 'desc').limit(1).executeTakeFirst(),
      this.deps.usage.liveSandboxesUsing(project, name),
    ])
    const running = build && this.#running.get(build.id)
    const buildLog = running ? running.lines() : build ? (JSON.parse(build.log) as string[]) : []
    return { ...templateView(row, layers, build), usedBy, buildLog: buildLog.slice(-50) }
  }

  async buildLog(project: string, name: string, id: string): Promise<{ id: string; state: 'building' | 'ready' | 'failed'; lines: string[] }> {
    const b = await this.#db.selectFrom('template_builds').selectAll().where('id', '=', id).where('project', '=', project).where('name', '=', name).executeTakeFirst()
    if (!b) throw new AppError('not_found', `build ${id} of template ${name} not found`)
    const running = this.#running.get(id)
    return { id, state: b.state as 'building' | 'ready' | 'failed', lines: running ? running.lines() : (JSON.parse(b.log) as string[]) }
  }

  /** Idempotent: an unknown name is fine. `conflict` while live sandboxes started from it. */
  async delete(project: string, name: string): Promise<void> {
    if (isBuiltInName(name)) throw new AppError('invalid_request', `template ${name} is built in and cannot be deleted`, [{ path: 'name', message: 'built-in' }])
    await this.#mutex.run(project, async () => {
      const row = await this.#db.selectFrom('templates').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst()
      if (!row) return
      const live = await this.deps.usage.liveSandboxesUsing(project, name)
      if (live > 0) throw new AppError('conflict', `template ${name} is in use by ${live} live sandbox${live === 1 ? '' : 'es'}; destroy them first (GET /v1/sandboxes)`, { inUseBy: live })
      await this.#db.deleteFrom('templates').where('project', '=', project).where('name', '=', name).execute()
      await this.#db.deleteFrom('template_builds').where('project', '=', project).where('name', '=', name).execute()
      await this.#layers.collect(project)
      if (row.base_kind === 'image' && this.deps.removeImage) {
        const other = await this.#db.selectFrom('templates').select('name').where('base_digest', '=', row.base_digest).limit(1).executeTakeFirst()
        if (!other) await this.deps.removeImage(this.deps.imageStoreDir, row.base_digest)
      }
    })
  }

  async resolve(project: string, name: string): Promise<ResolvedTemplate> {
    if (isBuiltInName(name)) return { spec: { name: BUILT_IN_NAME, rootfs: 'host' }, ref: { name: BUILT_IN_NAME, digest: templateDigest(HOST_BASE_DIGEST, []), layers: [] }, env: {} }
    const row = await this.#db.selectFrom('templates').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst()
    if (!row)
      throw new AppError('invalid_request', `template ${JSON.stringify(name)} does not exist in this project; build it (POST /v1/templates) or see GET /v1/templates`, [
        { path: 'template', message: 'unknown template' },
      ])
    const keys = (JSON.parse(row.layer_keys) as LayerKey[]).map((k) => k.key)
    const layers = await this.#layers.rows(project, keys)
    const missing = keys.filter((k) => !layers.has(k))
    if (missing.length > 0) throw new AppError('internal', `template ${name}: ${missing.length} of its layers are missing from the store; rebuild it with noCache`)
    const d = parseRecord<TemplateDefaults>(row.defaults)
    return {
      spec: { name, rootfs: row.rootfs },
      ...(keys.length > 0 ? { fromSnapshot: this.#layers.snapshotIdOf(keys[keys.length - 1]!) } : {}),
      ref: { name, digest: row.digest, layers: keys.map((k) => `sha256:${k}`) },
      env: d.env,
      ...(d.workdir ? { workdir: d.workdir } : {}),
      ...(d.user ? { user: d.user } : {}),
      ...(d.start ? { start: { cmd: d.start, ...(d.ready ? { ready: d.ready } : {}) } } : {}),
      ...(d.resources ? { resources: d.resources } : {}),
      ...(d.network ? { network: { allowedDomains: [...d.network.allowedDomains], deniedDomains: [...d.network.deniedDomains] } } : {}),
    }
  }

  /**
   * After a restart: builds that were running are marked failed, their build sandboxes destroyed, and
   * layers no template uses (with their snapshots) and snapshots without a layer row removed.
   */
  async reconcile(): Promise<{ interrupted: number; sandboxes: number; layers: number; snapshots: number }> {
    const now = new Date(this.deps.clock.now()).toISOString()
    const r = await this.#db
      .updateTable('template_builds')
      .set({ state: 'failed', finished_at: now, error: 'interrupted by a restart of the server; build again' })
      .where('state', '=', 'building')
      .executeTakeFirst()
    const swept = await this.#layers.sweep()
    return { interrupted: Number(r.numUpdatedRows), ...swept }
  }

  async #row(project: string, name: string): Promise<TemplateRow> {
    const row = await this.#db.selectFrom('templates').selectAll().where('project', '=', project).where('name', '=', name).executeTakeFirst()
    if (!row) throw new AppError('not_found', `template ${name} not found`)
    return row
  }
}

/** The fields of a partial record that are set (so `undefined` never overrides a default). */
function definedOf<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {}
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}
