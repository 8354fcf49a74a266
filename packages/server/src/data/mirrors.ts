/** @module data/mirrors — data sources and mirrors: register, build and refresh (one build per mirror at a time), delete. */
import { randomBytes } from 'node:crypto'
import type { DataSource, MaskingReport, Mirror, MirrorProgress, Principal } from '@tidepool/sdk'
import type { z } from 'zod'
import { AppError, codeOf, notFound, quotaExceeded } from '../core/errors.js'
import { newId } from '../core/ids.js'
import { decodeCursor } from '../kit/cursor.js'
import { keysetPageOf } from '../kit/page.js'
import { choosePgBinaries } from './pg-binaries.js'
import { actorOf, type DataContext } from './data-context.js'
import { paths } from './layout.js'
import { loggedAs } from './logged.js'
import { buildMirror } from './mirror-builder.js'
import { planMasking } from './mask-plan.js'
import { probeSource } from './source.js'
import { parseSourceUrl } from './source-url.js'
import type { DataMirrorRow, DataSourceRow } from './tables.js'
import { mirrorView, sourceView } from './views.js'

type Sample = Mirror['sample']
type Masking = Omit<Mirror['masking'], 'content'> & { content?: boolean | undefined }

export interface CreateMirror {
  id: string
  name?: string | undefined
  sample: Sample
  masking: Masking
  refreshEverySeconds?: number | undefined
  wait: boolean
}

interface Building {
  done: Promise<void>
  progress: z.infer<typeof MirrorProgress>
  dir: string
}

export class Mirrors {
  readonly #c: DataContext
  readonly #building = new Map<string, Building>()
  /** Set by the service: a build finished (the warm pool follows the new base). */
  onBuilt: (mirrorId: string) => void = () => undefined
  /** Set by the service: the mirror is about to go (its warm clones go first). */
  beforeRemove: (mirrorId: string) => Promise<void> = async () => undefined

  constructor(c: DataContext) {
    this.#c = c
  }

  // ------------------------------------------------------------ sources

  async addSource(p: Principal, i: { url: string; name?: string | undefined }): Promise<DataSource> {
    const conn = parseSourceUrl(i.url)
    const probe = await probeSource(conn)
    const name =
      i.name ??
      (probe.database
        .toLowerCase()
        .replace(/[^a-z0-9_-]+/g, '-')
        .replace(/^[^a-z0-9]+/, '')
        .slice(0, 63) ||
        'source')
    const row: DataSourceRow = {
      id: newId('dsrc', 12),
      project: p.project,
      name,
      url: i.url,
      database: probe.database,
      server_version: probe.version,
      tables: probe.tables,
      salt: randomBytes(32).toString('hex'),
      created_at: this.#c.now(),
    }
    return this.#c.locks.run(`source-name:${p.project}`, async () => {
      const dup = await this.#c.db.selectFrom('data_sources').select('id').where('project', '=', p.project).where('name', '=', name).executeTakeFirst()
      if (dup) throw new AppError('conflict', `data source name ${JSON.stringify(name)} is taken by ${dup.id} in project ${p.project}; pass another name`)
      await this.#c.db.insertInto('data_sources').values(row).execute()
      return sourceView(row)
    })
  }

  async listSources(p: Principal, q: { limit: number; nextToken?: string | undefined }): Promise<{ items: DataSource[]; nextToken?: string }> {
    return keysetPageOf({
      ...q,
      fetch: (after, n) => {
        const query = this.#c.db.selectFrom('data_sources').selectAll().where('project', '=', p.project).orderBy('id').limit(n)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      view: sourceView,
    })
  }

  async sourceRow(p: Principal, id: string): Promise<DataSourceRow> {
    const row = await this.#c.db.selectFrom('data_sources').selectAll().where('id', '=', id).where('project', '=', p.project).executeTakeFirst()
    if (!row) throw notFound('data source', id)
    return row
  }

  async deleteSource(p: Principal, id: string): Promise<void> {
    await this.sourceRow(p, id)
    const mirrors = await this.#c.db.selectFrom('data_mirrors').select('id').where('source_id', '=', id).execute()
    if (mirrors.length > 0) throw new AppError('conflict', `data source ${id} has mirrors (${mirrors.map((m) => m.id).join(', ')}); delete them first`)
    await this.#c.db.deleteFrom('data_sources').where('id', '=', id).execute()
  }

  // ------------------------------------------------------------ mirrors

  async mirrorRow(p: Principal, idOrName: string): Promise<DataMirrorRow> {
    const row = await this.#c.db
      .selectFrom('data_mirrors')
      .selectAll()
      .where('project', '=', p.project)
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .executeTakeFirst()
    if (!row) throw notFound('mirror', idOrName)
    return row
  }

  async view(row: DataMirrorRow): Promise<Mirror> {
    const clones = await this.#c.db
      .selectFrom('data_clones')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('mirror_id', '=', row.id)
      .where('state', 'in', ['ready', 'stopped'])
      .executeTakeFirst()
    const b = this.#building.get(row.id)
    return mirrorView(row, { clones: Number(clones?.n ?? 0), refreshing: Boolean(b), progress: b ? { ...b.progress } : undefined })
  }

  async list(p: Principal, q: { limit: number; nextToken?: string | undefined }): Promise<{ items: Mirror[]; nextToken?: string }> {
    return keysetPageOf({
      ...q,
      fetch: (after, n) => {
        const query = this.#c.db.selectFrom('data_mirrors').selectAll().where('project', '=', p.project).orderBy('id').limit(n)
        return (after ? query.where('id', '>', after) : query).execute()
      },
      view: (r) => this.view(r),
    })
  }

  /**
   * The checks a build can make before the storage pool is touched: the mirror (if named) and the source
   * exist in this project, and the source answers and its role can read every table and schema.
   */
  async preflight(p: Principal, what: { source: string } | { mirror: string }): Promise<void> {
    const sourceId = 'source' in what ? what.source : (await this.mirrorRow(p, what.mirror)).source_id
    const source = await this.sourceRow(p, sourceId)
    await probeSource(parseSourceUrl(source.url))
  }

  /** The dry run of a build's masking: what a mirror of this source would mask, column by column. */
  async planMasking(p: Principal, i: { id: string; sample: Sample; masking: Masking; rowsPerTable: number }): Promise<MaskingReport> {
    const source = await this.sourceRow(p, i.id)
    return planMasking({ source: parseSourceUrl(source.url), salt: source.salt, sample: i.sample, masking: i.masking, rowsPerTable: i.rowsPerTable })
  }

  /** Builds a new mirror of a source, or refreshes the one of that name with the options given. */
  async create(p: Principal, i: CreateMirror): Promise<Mirror> {
    const source = await this.sourceRow(p, i.id)
    const name = i.name ?? source.name
    const row = await this.#c.locks.run(`mirror-name:${p.project}`, async () => {
      const existing = await this.#c.db.selectFrom('data_mirrors').selectAll().where('project', '=', p.project).where('name', '=', name).executeTakeFirst()
      if (existing) {
        if (existing.source_id !== source.id) throw new AppError('conflict', `mirror ${JSON.stringify(name)} (${existing.id}) mirrors another source (${existing.source_id}); pass another name`)
        const set = { sample: JSON.stringify(i.sample), masking: JSON.stringify(i.masking), refresh_every_s: i.refreshEverySeconds ?? existing.refresh_every_s }
        await this.#c.db.updateTable('data_mirrors').set(set).where('id', '=', existing.id).execute()
        return { ...existing, ...set }
      }
      const limit = this.#limits(p.project).mirrors
      const count = await this.#c.db
        .selectFrom('data_mirrors')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('project', '=', p.project)
        .executeTakeFirst()
      if (Number(count?.n ?? 0) >= limit) {
        throw quotaExceeded(`project ${p.project} has ${limit} mirrors, its limit; delete one or ask an admin to raise data.quotas.projects.${p.project}.mirrors`, {
          scope: `data:${p.project}:mirrors`,
          limit,
          used: Number(count?.n ?? 0),
          requested: 1,
          retryAfter: 60,
        })
      }
      const fresh: DataMirrorRow = {
        id: newId('dmir', 12),
        project: p.project,
        name,
        source_id: source.id,
        state: 'building',
        database: source.database,
        pg_version: '',
        sample: JSON.stringify(i.sample),
        masking: JSON.stringify(i.masking),
        refresh_every_s: i.refreshEverySeconds ?? null,
        version: 0,
        base_dir: null,
        report: null,
        error: null,
        created_at: this.#c.now(),
        refreshed_at: null,
      }
      await this.#c.db.insertInto('data_mirrors').values(fresh).execute()
      return fresh
    })
    return this.#run(row, source, i.wait, actorOf(p))
  }

  async refresh(p: Principal, idOrName: string, wait: boolean): Promise<Mirror> {
    const row = await this.mirrorRow(p, idOrName)
    const source = await this.sourceRow(p, row.source_id)
    return this.#run(row, source, wait, actorOf(p))
  }

  /**
   * Starts a build of `row` (conflict if one runs). Answers once it is built (`wait`), or once the cheap
   * checks passed (source reachable and readable, masking rules fit, space suffices): those failures are
   * the caller's answer either way, and a new mirror that fails them leaves no record.
   */
  async #run(row: DataMirrorRow, source: DataSourceRow, wait: boolean, actor: string): Promise<Mirror> {
    if (this.#building.has(row.id)) throw new AppError('conflict', `mirror ${row.id} is being built; wait for it (GET /v1/data/mirrors/${row.id})`)
    await this.#c.open()
    const version = row.version + 1
    const b: Building = { progress: { phase: 'queued', tablesDone: 0, tables: source.tables, rows: 0 }, done: Promise.resolve(), dir: paths.mirrorVersion(row.id, version) }
    this.#building.set(row.id, b)
    const first = row.base_dir === null
    let prepared = false
    let onPrepared = () => undefined as void
    const preparedP = new Promise<void>((r) => (onPrepared = r))
    b.done = this.#build(row, source, version, b, () => {
      prepared = true
      onPrepared()
    })
      .then(
        () => undefined,
        async (err: unknown) => {
          const e = (await this.#c.asAppError(err, row.project)) as Error
          const error = JSON.stringify({ code: codeOf(e), message: e instanceof AppError ? e.message : `internal error: ${e.message}` })
          const answered = wait || !prepared
          // Internal errors are logged once: by dispatch when the caller gets this one, else here.
          if (!(e instanceof AppError) && !answered) this.#c.log.error({ err, mirror: row.id }, 'mirror build failed')
          if (first) await this.#c.opened?.pool.remove(this.#c.abs(`mirrors/${row.id}`)).catch(loggedAs(this.#c.log, 'removing the failed mirror build', { mirror: row.id }))
          if (first && answered) await this.#c.db.deleteFrom('data_mirrors').where('id', '=', row.id).execute()
          else
            await this.#c.db
              .updateTable('data_mirrors')
              .set(first ? { state: 'failed', error } : { error })
              .where('id', '=', row.id)
              .execute()
          await this.#c.event(row.project, row.id, 'data.mirror.failed', actor, { error: JSON.parse(error) as unknown })
          if (answered) throw e
        },
      )
      .finally(() => this.#building.delete(row.id))
    if (wait) {
      await b.done
      const fresh = await this.#c.db.selectFrom('data_mirrors').selectAll().where('id', '=', row.id).executeTakeFirstOrThrow()
      return this.view(fresh)
    }
    await Promise.race([preparedP, b.done])
    b.done.catch(() => undefined) // reported above: logged (internal errors) and kept in the mirror's state
    return this.view(row)
  }

  async #build(row: DataMirrorRow, source: DataSourceRow, version: number, b: Building, onPrepared: () => void): Promise<void> {
    const o = await this.#c.open()
    const port = await this.#c.ports.take()
    const socketDir = `${this.#c.socketRoot}/b-${row.id}`
    try {
      const built = await buildMirror({
        source: parseSourceUrl(source.url),
        salt: source.salt,
        sample: JSON.parse(row.sample) as Sample,
        masking: JSON.parse(row.masking) as Masking,
        binaries: (major) => choosePgBinaries(o.bins, major),
        pool: o.pool,
        dir: this.#c.abs(b.dir),
        port,
        socketDir,
        name: `tidepool-build-${row.id}`,
        runAs: o.runAs,
        settings: this.#c.settings,
        log: this.#c.log,
        onProgress: (pr) => (b.progress = pr),
        onPrepared,
      })
      const old = row.base_dir
      await this.#c.db
        .updateTable('data_mirrors')
        .set({ state: 'ready', version, base_dir: b.dir, database: built.database, pg_version: built.bins.version, report: JSON.stringify(built.report), error: null, refreshed_at: this.#c.now() })
        .where('id', '=', row.id)
        .execute()
      this.onBuilt(row.id)
      if (old) await this.collectBase(old)
      await this.#c.event(row.project, row.id, 'data.mirror.built', 'tidepool', { version, rows: built.report.rows, durationMs: built.report.durationMs })
    } finally {
      this.#c.ports.release(port)
      await this.#c.removeSocketDir(socketDir)
    }
  }

  /** Removes an old base once no live clone started from it. */
  async collectBase(baseDir: string): Promise<void> {
    const used = await this.#c.db.selectFrom('data_clones').select('id').where('base_dir', '=', baseDir).where('destroyed_at', 'is', null).executeTakeFirst()
    const current = await this.#c.db.selectFrom('data_mirrors').select('id').where('base_dir', '=', baseDir).executeTakeFirst()
    if (!used && !current && this.#c.opened) await this.#c.opened.pool.remove(this.#c.abs(baseDir))
  }

  async remove(p: Principal, idOrName: string): Promise<void> {
    const row = await this.mirrorRow(p, idOrName)
    if (this.#building.has(row.id)) throw new AppError('conflict', `mirror ${row.id} is being built; delete it when the build ends`)
    const live = await this.#c.db.selectFrom('data_clones').select('id').where('mirror_id', '=', row.id).where('state', 'in', ['creating', 'ready', 'stopped']).execute()
    if (live.length > 0) throw new AppError('conflict', `mirror ${row.id} has live clones (${live.map((c) => c.id).join(', ')}); destroy them first`)
    const o = await this.#c.open()
    await this.beforeRemove(row.id)
    for (const srv of await this.#c.db.selectFrom('data_servers').selectAll().where('mirror_id', '=', row.id).execute()) await o.template.removeServer(srv)
    await o.pool.remove(this.#c.abs(`mirrors/${row.id}`))
    await this.#c.db.deleteFrom('data_mirrors').where('id', '=', row.id).execute()
  }

  /** Mirrors whose schedule says a refresh is due (not building now). */
  async due(nowMs: number): Promise<DataMirrorRow[]> {
    const rows = await this.#c.db.selectFrom('data_mirrors').selectAll().where('refresh_every_s', 'is not', null).where('state', '=', 'ready').execute()
    return rows.filter((r) => !this.#building.has(r.id) && Date.parse(r.refreshed_at ?? r.created_at) + r.refresh_every_s! * 1000 <= nowMs)
  }

  async refreshScheduled(row: DataMirrorRow): Promise<void> {
    const source = await this.#c.db.selectFrom('data_sources').selectAll().where('id', '=', row.source_id).executeTakeFirst()
    if (!source) return
    await this.#run(row, source, false, 'tidepool (schedule)')
    await this.#c.auditSystem(row.project, 'data.mirror.refresh', row.id, 'started')
  }

  /** Pool-relative dirs of builds running now (the orphan sweep keeps them). */
  buildingDirs(): string[] {
    return [...this.#building.values()].map((b) => b.dir)
  }

  buildingIds(): string[] {
    return [...this.#building.keys()]
  }

  /** Waits for running builds (shutdown). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.#building.values()].map((b) => b.done))
  }

  #limits(project: string) {
    return { ...this.#c.cfg.quotas.default, ...this.#c.cfg.quotas.projects[project] }
  }
}
