/**
 * @module data/reaper — the data area's housekeeping: expired clones, disk usage, scheduled refreshes, and
 * anything on disk or running that no record owns (left by a crash): stray servers, dirs, socket dirs.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Clones } from './clones.js'
import type { DataContext } from './data-context.js'
import type { Mirrors } from './mirrors.js'
import { isMounted } from '../storage/loop-image.js'
import { poolMountIn } from './layout.js'
import { postmastersUnder, stopPid } from './pg-server.js'

export interface ReapReport {
  expired: string[]
  refreshing: string[]
  orphans: { servers: number; dirs: number; sockets: number }
}

export class Reaper {
  readonly #c: DataContext
  readonly #clones: Clones
  readonly #mirrors: Mirrors
  #ticks = 0

  constructor(c: DataContext, clones: Clones, mirrors: Mirrors) {
    this.#c = c
    this.#clones = clones
    this.#mirrors = mirrors
  }

  /** One pass. Cheap parts every time; usage and the orphan sweep every 12th pass (and when `full`). */
  async tick(full = false): Promise<ReapReport> {
    const report: ReapReport = { expired: [], refreshing: [], orphans: { servers: 0, dirs: 0, sockets: 0 } }
    if (!this.#c.opened) return report
    report.expired = await this.#clones.expire()
    this.#clones.warm?.fill()
    for (const m of await this.#mirrors.due(this.#c.clock.now())) {
      await this.#mirrors.refreshScheduled(m).catch((err: unknown) => this.#c.log.warn({ err, mirror: m.id }, 'scheduled refresh did not start'))
      report.refreshing.push(m.id)
    }
    if (full || this.#ticks++ % 12 === 0) {
      await this.#clones.measure()
      await this.#collectServers()
      report.orphans = await this.sweep()
    }
    return report
  }

  /** Shared template servers nobody uses any more (their mirror moved on or is gone). */
  async #collectServers(): Promise<void> {
    const o = this.#c.opened!
    for (const srv of await this.#c.db.selectFrom('data_servers').selectAll().execute()) {
      const m = await this.#c.db.selectFrom('data_mirrors').select('version').where('id', '=', srv.mirror_id).executeTakeFirst()
      const users = await this.#c.db.selectFrom('data_clones').select('id').where('server_id', '=', srv.id).where('state', 'in', ['creating', 'ready', 'stopped']).executeTakeFirst()
      if (!users && (!m || m.version !== srv.mirror_version)) await o.template.removeServer(srv)
    }
  }

  /** Stops servers and removes dirs and socket dirs under tidepool's roots that no record owns. */
  async sweep(): Promise<ReapReport['orphans']> {
    const o = this.#c.opened
    const out = { servers: 0, dirs: 0, sockets: 0 }
    if (!o) return out
    const clones = await this.#c.db.selectFrom('data_clones').select(['id', 'data_dir', 'base_dir', 'state']).where('state', 'in', ['creating', 'ready', 'stopped', 'warm']).execute()
    const servers = await this.#c.db.selectFrom('data_servers').select(['id']).execute()
    const mirrors = await this.#c.db.selectFrom('data_mirrors').select(['id', 'base_dir']).execute()
    const building = new Set(this.#mirrors.buildingDirs())
    const keep = new Set<string>([
      ...clones.map((c) => `clones/${c.id}`),
      ...servers.map((s) => `servers/${s.id}`),
      ...mirrors.flatMap((m) => (m.base_dir ? [m.base_dir] : [])),
      ...clones.map((c) => c.base_dir),
      ...building,
    ])
    const owned = (rel: string) => [...keep].some((k) => rel === k || rel.startsWith(`${k}/`))

    for (const pm of await postmastersUnder(o.pool.root)) {
      const rel = pm.dataDir.slice(o.pool.root.length + 1)
      if (owned(rel)) continue
      this.#c.log.warn({ pid: pm.pid, dataDir: pm.dataDir }, 'stopping a PostgreSQL server no record owns')
      await stopPid(pm.pid, 'immediate')
      out.servers++
    }
    const remove = async (rel: string) => {
      this.#c.log.warn({ dir: rel }, 'removing a data dir no record owns')
      await o.pool.remove(this.#c.abs(rel))
      out.dirs++
    }
    for (const top of ['clones', 'servers']) {
      for (const name of await ls(this.#c.abs(top))) if (!owned(`${top}/${name}`)) await remove(`${top}/${name}`)
    }
    for (const m of await ls(this.#c.abs('mirrors'))) {
      for (const v of await ls(this.#c.abs(`mirrors/${m}`))) if (!owned(`mirrors/${m}/${v}`)) await remove(`mirrors/${m}/${v}`)
      if ((await ls(this.#c.abs(`mirrors/${m}`))).length === 0) await o.pool.remove(this.#c.abs(`mirrors/${m}`))
    }
    for (const t of await ls(this.#c.abs('trash'))) await o.pool.remove(this.#c.abs(`trash/${t}`))

    const sockets = new Set([...clones.map((c) => c.id), ...servers.map((s) => s.id), ...this.#mirrors.buildingIds().map((id) => `b-${id}`)])
    for (const name of await ls(this.#c.socketRoot)) {
      if (sockets.has(name)) continue
      // The run dir also holds the pool's mount point (as root): never a socket dir, never to be emptied.
      const p = join(this.#c.socketRoot, name)
      if (p === poolMountIn(this.#c.socketRoot) || (await isMounted(p))) continue
      await rm(p, { recursive: true, force: true })
      out.sockets++
    }
    return out
  }
}

async function ls(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => [] as string[])
}
