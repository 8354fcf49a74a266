/** @module data/service — PostgreSQL data sources, mirrors and thin clones: the data area's one service. */
import type { Clone, DataSnapshot, DataSource, MaskingReport, Mirror, Principal } from '@tidepool/sdk'
import type { AreaDeps } from '../kit/area-deps.js'
import type { SandboxBinder } from './binder.js'
import { Clones, type CreateClone, type CreateCloneOptions } from './clones.js'
import { DataConfig } from './config.js'
import { DataContext } from './data-context.js'
import { Mirrors, type CreateMirror } from './mirrors.js'
import { loggedAs } from './logged.js'
import { Reaper, type ReapReport } from './reaper.js'
import { WarmPool } from './warm-pool.js'
import { postmastersUnder, stopPid } from './pg-server.js'
import { dataDb } from './tables.js'

type Page<T> = { items: T[]; nextToken?: string }
type PageQuery = { limit: number; nextToken?: string | undefined }

export interface DataService {
  addSource(p: Principal, i: { url: string; name?: string | undefined }): Promise<DataSource>
  listSources(p: Principal, q: PageQuery): Promise<Page<DataSource>>
  deleteSource(p: Principal, id: string): Promise<void>
  createMirror(p: Principal, i: CreateMirror): Promise<Mirror>
  /** Dry run: what a mirror build would mask (reads a sample of the source; no pool, nothing written). */
  planMasking(p: Principal, i: Omit<CreateMirror, 'wait' | 'name'> & { rowsPerTable: number }): Promise<MaskingReport>
  listMirrors(p: Principal, q: PageQuery): Promise<Page<Mirror>>
  getMirror(p: Principal, idOrName: string): Promise<Mirror>
  refreshMirror(p: Principal, idOrName: string, wait: boolean): Promise<Mirror>
  deleteMirror(p: Principal, idOrName: string): Promise<void>
  createClone(p: Principal, i: CreateClone, opts?: CreateCloneOptions): Promise<Clone>
  listClones(p: Principal, q: PageQuery): Promise<Page<Clone>>
  getClone(p: Principal, id: string): Promise<Clone>
  patchClone(p: Principal, id: string, ttlSeconds: number): Promise<Clone>
  deleteClone(p: Principal, id: string): Promise<void>
  snapshotClone(p: Principal, id: string, label?: string): Promise<DataSnapshot>
  resetClone(p: Principal, id: string, to: string): Promise<Clone>
  /** Destroys the clones bound to a sandbox; call it when the sandbox is destroyed. */
  releaseSandbox(project: string, sandboxId: string): Promise<number>
  /**
   * Adopts or restarts the clones of a previous run, reaps what a crash left behind, and starts the
   * reaper (when `reaper` is not false). Does nothing heavy when the area was never used.
   */
  start(opts?: { reaper?: boolean }): Promise<void>
  /** One reaper pass (tests and the timer). */
  reap(full?: boolean): Promise<ReapReport>
  /** Waits for background work: running builds, spare copies (tests, benchmarks). */
  settle(): Promise<void>
  /** Stops managed servers and unmounts the pool (they are adopted or restarted on the next start). */
  close(): Promise<void>
}

export interface DataServiceOptions {
  binder?: SandboxBinder
}

export function createDataService(deps: AreaDeps, opts: DataServiceOptions = {}): DataService {
  // The config loader may hand over `{}` for an absent `data` key; parsing here applies every default.
  const cfg = DataConfig.parse(deps.config.data ?? {})
  const ctx = new DataContext(cfg, dataDb(deps.store.db), deps.clock, deps.log.child({ area: 'data' }), deps.audit, deps.events, deps.config.home)
  ctx.binder = opts.binder
  const mirrors = new Mirrors(ctx)
  const clones = new Clones(ctx, mirrors)
  const reaper = new Reaper(ctx, clones, mirrors)
  const warm = new WarmPool(ctx, clones)
  clones.warm = warm
  mirrors.onBuilt = () => warm.fill()
  mirrors.beforeRemove = (id) => warm.drop(id)
  let timer: NodeJS.Timeout | undefined
  let started: Promise<void> | undefined
  let reaping: Promise<ReapReport> | undefined

  /** First use: open the pool, then recover what a previous run left. */
  const ready = async () => {
    started ??= (async () => {
      await ctx.open()
      const r = await clones.recover()
      const interrupted = await ctx.db
        .updateTable('data_mirrors')
        .set({ state: 'failed', error: JSON.stringify({ code: 'internal', message: 'the build was interrupted by a restart; refresh the mirror' }) })
        .where('state', '=', 'building')
        .executeTakeFirst()
      const orphans = await reaper.sweep()
      warm.fill()
      if (r.adopted + r.restarted + r.removed + r.failed + Number(interrupted.numUpdatedRows) + orphans.servers + orphans.dirs > 0)
        ctx.log.info({ ...r, orphans, interruptedBuilds: Number(interrupted.numUpdatedRows) }, 'data: recovered state of the previous run')
    })().catch((err: unknown) => {
      started = undefined
      throw err
    })
    await started
  }
  const used = async () => {
    const m = await ctx.db.selectFrom('data_mirrors').select('id').limit(1).executeTakeFirst()
    const c = await ctx.db.selectFrom('data_clones').select('id').where('state', '!=', 'destroyed').limit(1).executeTakeFirst()
    return Boolean(m || c)
  }
  const reap = (full = false) => {
    reaping ??= (async () => {
      if (!ctx.opened) {
        if (!(await used())) return { expired: [], refreshing: [], orphans: { servers: 0, dirs: 0, sockets: 0 } }
        await ready()
      }
      return reaper.tick(full)
    })().finally(() => (reaping = undefined))
    return reaping
  }
  /**
   * An operation that needs the pool. `check` runs first, with no pool: an unknown id, or a source that
   * cannot be reached or read, is answered without opening (on a first use: creating and mounting) it.
   */
  const op =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>, check?: (...a: A) => Promise<unknown>) =>
    async (...a: A): Promise<R> => {
      await check?.(...a)
      await ready()
      return fn(...a)
    }

  return {
    addSource: (p, i) => mirrors.addSource(p, i),
    listSources: (p, q) => mirrors.listSources(p, q),
    deleteSource: (p, id) => mirrors.deleteSource(p, id),
    createMirror: op(
      (p: Principal, i: CreateMirror) => mirrors.create(p, i),
      (p, i) => mirrors.preflight(p, { source: i.id }),
    ),
    planMasking: (p, i) => mirrors.planMasking(p, i),
    listMirrors: (p, q) => mirrors.list(p, q),
    getMirror: async (p, id) => mirrors.view(await mirrors.mirrorRow(p, id)),
    refreshMirror: op(
      (p: Principal, id: string, wait: boolean) => mirrors.refresh(p, id, wait),
      (p, id) => mirrors.preflight(p, { mirror: id }),
    ),
    deleteMirror: op(
      (p: Principal, id: string) => mirrors.remove(p, id),
      (p, id) => mirrors.mirrorRow(p, id),
    ),
    createClone: op(
      (p: Principal, i: CreateClone, o?: CreateCloneOptions) => clones.create(p, i, o),
      (p, i) => mirrors.mirrorRow(p, i.mirror),
    ),
    listClones: (p, q) => clones.list(p, q),
    getClone: (p, id) => clones.get(p, id),
    patchClone: (p, id, ttl) => clones.patch(p, id, ttl),
    deleteClone: op(
      (p: Principal, id: string) => clones.remove(p, id),
      (p, id) => clones.row(p, id),
    ),
    snapshotClone: op(
      (p: Principal, id: string, label?: string) => clones.snapshot(p, id, label),
      (p, id) => clones.row(p, id),
    ),
    resetClone: op(
      (p: Principal, id: string, to: string) => clones.reset(p, id, to),
      (p, id) => clones.row(p, id),
    ),
    releaseSandbox: async (project, sandboxId) => {
      const bound = await ctx.db.selectFrom('data_clones').select('id').where('sandbox_id', '=', sandboxId).where('state', '!=', 'destroyed').executeTakeFirst()
      if (!bound) return 0
      await ready()
      return clones.releaseSandbox(project, sandboxId)
    },
    start: async (o = {}) => {
      if (await used()) await ready()
      if (o.reaper !== false && !timer) {
        timer = setInterval(() => {
          reap().catch((err: unknown) => ctx.log.error({ err }, 'data reaper failed'))
        }, cfg.reaperIntervalMs)
        timer.unref()
      }
    },
    reap,
    settle: async () => {
      await mirrors.settle()
      await warm.settle()
      await ctx.opened?.reflink.settle()
    },
    close: async () => {
      if (timer) clearInterval(timer)
      timer = undefined
      await reaping?.catch(() => undefined) // its failure goes to whoever started that reap (the timer logs it)
      const o = ctx.opened
      if (!o) return
      try {
        await mirrors.settle()
        // A warm refill in flight would start a postmaster on the pool after stopAll and keep it busy.
        await warm.settle()
        await clones.stopAll()
      } finally {
        // Whatever still runs on the pool (a clone half made when close came) stops, so the pool can unmount.
        for (const pm of await postmastersUnder(o.pool.root).catch(() => []))
          await stopPid(pm.pid, 'fast').catch(loggedAs(ctx.log, 'stopping a postmaster left on the pool', { pid: pm.pid, dataDir: pm.dataDir }))
        await ctx.close()
        started = undefined
      }
    },
  }
}
