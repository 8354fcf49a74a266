/**
 * @module data/warm-pool — clones made ahead of demand: running, role created, fresh state kept, owned by
 * no project. Creating a clone hands one out (a database update) and the next one is made in the background.
 */
import { newId } from '../core/ids.js'
import { cloneRefOf, type CloneRef } from './clone-driver.js'
import type { DataContext } from './data-context.js'
import { loggedAs } from './logged.js'
import { newPassword } from './pg-admin.js'
import type { DataCloneRow } from './tables.js'

/** What the pool needs from the clones area it feeds: ending a clone (one whose server died, or a stale one). */
export interface CloneEnder {
  destroy(project: string, id: string, reason: string, actor: string): Promise<void>
}

const WARM_EXPIRY = '9999-12-31T00:00:00.000Z'

export class WarmPool {
  readonly #c: DataContext
  readonly #clones: CloneEnder
  #filling: Promise<void> | undefined
  #fillAgain = false

  constructor(c: DataContext, clones: CloneEnder) {
    this.#c = c
    this.#clones = clones
  }

  /** Takes a running warm clone of the mirror's current base for a project; undefined when none is ready. */
  async claim(mirrorId: string, base: string, owner: Pick<DataCloneRow, 'project' | 'sandbox_id' | 'created_at' | 'expires_at'>): Promise<DataCloneRow | undefined> {
    const candidates = await this.#c.db
      .selectFrom('data_clones')
      .selectAll()
      .where('state', '=', 'warm')
      .where('mirror_id', '=', mirrorId)
      .where('base_dir', '=', base)
      .orderBy('created_at')
      .limit(4)
      .execute()
    for (const w of candidates) {
      const r = await this.#c.db
        .updateTable('data_clones')
        .set({ ...owner, state: 'ready' })
        .where('id', '=', w.id)
        .where('state', '=', 'warm')
        .executeTakeFirst()
      if (Number(r.numUpdatedRows) !== 1) continue
      const row = { ...w, ...owner, state: 'ready' }
      if (await this.#c.driver(row.strategy).running({ ...cloneRefOf(row), bins: this.#c.binsFor(row.pg_major) })) return row
      // Its server died (host trouble): drop it and try the next.
      await this.#clones.destroy(owner.project, row.id, 'warm_clone_lost', 'tidepool').catch(loggedAs(this.#c.log, 'destroying a lost warm clone', { clone: row.id }))
    }
    return undefined
  }

  /**
   * Keeps data.warmClones running clones per ready mirror (reflink strategy), made in the background;
   * drops warm clones of a mirror's old base. Coalesces concurrent calls.
   */
  fill(): void {
    if (this.#filling) {
      this.#fillAgain = true
      return
    }
    this.#filling = (async () => {
      do {
        this.#fillAgain = false
        await this.#fillOnce().catch((err: unknown) => this.#c.log.warn({ err }, 'warm clone pool not refilled'))
      } while (this.#fillAgain)
    })().finally(() => (this.#filling = undefined))
  }

  async #fillOnce(): Promise<void> {
    const o = this.#c.opened
    const want = this.#c.cfg.warmClones
    if (!o) return
    const mirrors = await this.#c.db.selectFrom('data_mirrors').selectAll().where('base_dir', 'is not', null).execute()
    const warm = await this.#c.db.selectFrom('data_clones').selectAll().where('state', '=', 'warm').execute()
    for (const w of warm) {
      const m = mirrors.find((x) => x.id === w.mirror_id)
      if (!m || m.base_dir !== w.base_dir || want === 0 || o.defaultDriver.strategy !== 'reflink') await this.#clones.destroy('', w.id, 'warm_clone_stale', 'tidepool')
    }
    if (want === 0 || o.defaultDriver.strategy !== 'reflink') return
    for (const m of mirrors) {
      const have = warm.filter((w) => w.mirror_id === m.id && w.base_dir === m.base_dir).length
      for (let n = have; n < want; n++) await this.#makeWarm(m.id, m.base_dir!, m.database, m.version, m.pg_version)
    }
  }

  async #makeWarm(mirrorId: string, base: string, database: string, version: number, pgVersion: string): Promise<void> {
    const id = newId('dcl', 16)
    const major = Number(pgVersion.split('.')[0])
    const row: DataCloneRow = {
      id,
      project: '',
      mirror_id: mirrorId,
      sandbox_id: null,
      strategy: 'reflink',
      state: 'creating',
      server_id: null,
      data_dir: null,
      base_dir: base,
      socket_dir: '',
      port: 0,
      pg_major: major,
      database,
      user_name: id,
      password: newPassword(),
      disk_bytes: 0,
      created_at: this.#c.now(),
      expires_at: WARM_EXPIRY,
      reset_at: null,
      destroyed_at: null,
      reason: null,
    }
    await this.#c.db.insertInto('data_clones').values(row).execute()
    try {
      const place = await this.#c.opened!.reflink.create(
        { id, user: id, password: row.password, mirrorDatabase: database, mirrorId, mirrorVersion: version, baseDir: base, bins: this.#c.binsFor(major) },
        { keepStart: true },
      )
      await this.#c.db
        .updateTable('data_clones')
        .set({ state: 'warm', port: place.port, socket_dir: place.socketDir, data_dir: place.dataDir ?? null })
        .where('id', '=', id)
        .execute()
    } catch (err) {
      await this.#c.db.deleteFrom('data_clones').where('id', '=', id).execute()
      throw err
    }
  }

  /** Destroys the warm clones of a mirror (before the mirror goes). */
  async drop(mirrorId: string): Promise<void> {
    await this.#filling
    const rows = await this.#c.db.selectFrom('data_clones').select('id').where('mirror_id', '=', mirrorId).where('state', '=', 'warm').execute()
    for (const r of rows) await this.#clones.destroy('', r.id, 'mirror_deleted', 'tidepool')
  }

  /** Waits for the warm pool to be refilled (tests, benchmarks). */
  async settle(): Promise<void> {
    while (this.#filling) await this.#filling
  }
}
