/** @module data/views — rows of the data tables as the API shows them. */
import type { Clone, DataSnapshot, DataSource, Mirror, MirrorProgress } from '@tidepool/sdk'
import type { z } from 'zod'
import { redactUrl } from './source-url.js'
import type { DataCloneRow, DataMirrorRow, DataSnapshotRow, DataSourceRow } from './tables.js'

export function sourceView(r: DataSourceRow): DataSource {
  return { id: r.id, project: r.project, name: r.name, url: redactUrl(r.url), database: r.database, serverVersion: r.server_version, tables: r.tables, createdAt: r.created_at }
}

export function mirrorView(r: DataMirrorRow, extra: { clones: number; refreshing: boolean; progress?: z.infer<typeof MirrorProgress> | undefined }): Mirror {
  return {
    id: r.id,
    project: r.project,
    name: r.name,
    sourceId: r.source_id,
    state: r.state as Mirror['state'],
    database: r.database,
    pgVersion: r.pg_version,
    sample: JSON.parse(r.sample) as Mirror['sample'],
    // Mirrors made before content masking have no `content`: their builds scan by content (the default).
    masking: { content: true, ...(JSON.parse(r.masking) as Omit<Mirror['masking'], 'content'>) },
    ...(r.refresh_every_s !== null ? { refreshEverySeconds: r.refresh_every_s } : {}),
    createdAt: r.created_at,
    ...(r.refreshed_at ? { refreshedAt: r.refreshed_at } : {}),
    refreshing: extra.refreshing,
    ...(extra.progress ? { progress: extra.progress } : {}),
    ...(r.report ? { report: JSON.parse(r.report) as Mirror['report'] } : {}),
    ...(r.error ? { error: JSON.parse(r.error) as { code: string; message: string } } : {}),
    clones: extra.clones,
  }
}

export function snapshotView(r: DataSnapshotRow): DataSnapshot {
  return { id: r.id, cloneId: r.clone_id, createdAt: r.created_at, ...(r.label ? { label: r.label } : {}) }
}

export function cloneView(r: DataCloneRow, snapshots: DataSnapshotRow[]): Clone {
  const host = '127.0.0.1'
  return {
    id: r.id,
    project: r.project,
    mirrorId: r.mirror_id,
    ...(r.sandbox_id ? { sandbox: r.sandbox_id } : {}),
    state: r.state === 'ready' ? 'ready' : 'stopped',
    strategy: r.strategy as Clone['strategy'],
    url: `postgresql://${encodeURIComponent(r.user_name)}:${encodeURIComponent(r.password)}@${host}:${r.port}/${encodeURIComponent(r.database)}`,
    host,
    port: r.port,
    socketDir: r.socket_dir,
    database: r.database,
    user: r.user_name,
    password: r.password,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    ...(r.reset_at ? { resetAt: r.reset_at } : {}),
    diskBytes: Number(r.disk_bytes),
    snapshots: snapshots.map(snapshotView),
  }
}
