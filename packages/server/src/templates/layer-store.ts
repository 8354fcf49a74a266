/**
 * @module templates/layer-store — layer rows and the runtime snapshots that hold their files.
 *
 * A row is written only once its snapshot exists; a snapshot without a row, or a row no template
 * names, is garbage (a failed or interrupted build's): `collect` and `sweep` remove them. A failed
 * build's finished layers stay as cache until the next collection (a template delete or a restart).
 */
import type { Logger } from '../core/log.js'
import type { Runtime, SnapshotRef } from '../runtime/runtime.js'
import { BUILD_SANDBOX_PREFIX, LAYER_SNAPSHOT_PREFIX, layerSnapshotId } from './plan.js'
import type { LayerKey, TemplateLayerRow, TemplatesDb } from './tables.js'

/** Keys per IN (…) query: far below every dialect's parameter limit. */
const chunk = 500

export class LayerStore {
  constructor(
    private readonly db: TemplatesDb,
    private readonly runtime: Runtime,
    private readonly log: Logger,
  ) {}

  snapshotIdOf(key: string): string {
    return layerSnapshotId(key)
  }

  async rows(project: string, keys: readonly string[]): Promise<Map<string, TemplateLayerRow>> {
    const out = new Map<string, TemplateLayerRow>()
    const unique = [...new Set(keys)]
    for (let i = 0; i < unique.length; i += chunk) {
      const part = unique.slice(i, i + chunk)
      const rows = await this.db.selectFrom('template_layers').selectAll().where('project', '=', project).where('key', 'in', part).execute()
      for (const r of rows) out.set(r.key, r)
    }
    return out
  }

  async record(project: string, key: string, snap: SnapshotRef, buildId: string, at: string): Promise<TemplateLayerRow> {
    const row: TemplateLayerRow = { project, key, snapshot_id: snap.id, layer_path: snap.layer, bytes: snap.bytes, exclusive_bytes: snap.exclusiveBytes, created_at: at, build_id: buildId }
    await this.db.insertInto('template_layers').values(row).execute()
    return row
  }

  /** Removes the project's layers no template names: the snapshot first, then the row (so no file outlives its row). */
  async collect(project: string): Promise<number> {
    const used = new Set<string>()
    for (const t of await this.db.selectFrom('templates').select('layer_keys').where('project', '=', project).execute()) {
      for (const k of JSON.parse(t.layer_keys) as LayerKey[]) used.add(k.key)
    }
    let removed = 0
    for (const l of await this.db.selectFrom('template_layers').select(['key', 'snapshot_id']).where('project', '=', project).execute()) {
      if (used.has(l.key)) continue
      await this.runtime.snapshots?.delete(l.snapshot_id)
      await this.db.deleteFrom('template_layers').where('project', '=', project).where('key', '=', l.key).execute()
      removed++
    }
    return removed
  }

  /** On start: build sandboxes a crash left, unused layers of every project, and layer snapshots with no row. */
  async sweep(): Promise<{ sandboxes: number; layers: number; snapshots: number }> {
    let sandboxes = 0
    for (const id of await this.runtime.list()) {
      if (!id.startsWith(BUILD_SANDBOX_PREFIX)) continue
      await this.runtime.destroy(id)
      sandboxes++
    }
    let layers = 0
    const projects = await this.db.selectFrom('template_layers').select('project').distinct().execute()
    for (const p of projects) layers += await this.collect(p.project)
    let snapshots = 0
    const snaps = this.runtime.snapshots
    if (snaps) {
      const known = new Set((await this.db.selectFrom('template_layers').select('snapshot_id').execute()).map((r) => r.snapshot_id))
      for (const id of await snaps.list()) {
        if (!id.startsWith(LAYER_SNAPSHOT_PREFIX) || known.has(id)) continue
        await snaps.delete(id)
        snapshots++
      }
    }
    if (sandboxes + layers + snapshots > 0) this.log.info({ sandboxes, layers, snapshots }, 'templates: removed what an interrupted build left')
    return { sandboxes, layers, snapshots }
  }
}
