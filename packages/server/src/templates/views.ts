/** @module templates/views — stored rows as the API's Template, and the built-in default template. */
import type { TemplateInfo as Template } from '@tidepool/sdk'
import { HOST_BASE_DIGEST } from './base.js'
import { templateDigest } from './plan.js'
import { parseRecord, type LayerKey, type TemplateBuildRow, type TemplateDefaults, type TemplateLayerRow, type TemplateRow } from './tables.js'

export const BUILT_IN_NAME = 'default'
/** Names sandboxes may use for the built-in template ('base' is the name it had before). */
export const isBuiltInName = (name: string) => name === BUILT_IN_NAME || name === 'base'

export function builtInTemplate(): Template {
  return {
    name: BUILT_IN_NAME,
    description: "The host's system directories (/usr and its links, a minimal /etc), read-only below a private writable layer.",
    rootfs: 'host',
    builtIn: true,
    digest: templateDigest(HOST_BASE_DIGEST, []),
    base: { kind: 'host', digest: HOST_BASE_DIGEST },
    layers: [],
    env: {},
    createdAt: '1970-01-01T00:00:00.000Z',
    updatedAt: '1970-01-01T00:00:00.000Z',
  }
}

export function buildInfo(b: TemplateBuildRow): NonNullable<Template['lastBuild']> {
  return {
    id: b.id,
    state: b.state as 'building' | 'ready' | 'failed',
    cachedSteps: Number(b.cached_steps),
    builtSteps: Number(b.built_steps),
    startedAt: b.started_at,
    ...(b.finished_at ? { finishedAt: b.finished_at } : {}),
    ...(b.error ? { error: b.error } : {}),
  }
}

export function templateView(row: TemplateRow, layers: Map<string, TemplateLayerRow>, lastBuild?: TemplateBuildRow): Template {
  const d = parseRecord<TemplateDefaults>(row.defaults)
  const keys = JSON.parse(row.layer_keys) as LayerKey[]
  return {
    name: row.name,
    description: row.description,
    rootfs: row.rootfs,
    builtIn: false,
    digest: row.digest,
    base: { kind: row.base_kind as 'host' | 'rootfs' | 'image', digest: row.base_digest, ...(row.base_source ? { source: row.base_source } : {}) },
    layers: keys.map((k) => {
      const l = layers.get(k.key)
      return { step: k.step, key: k.key, digest: `sha256:${k.key}`, bytes: Number(l?.bytes ?? 0), exclusiveBytes: Number(l?.exclusive_bytes ?? 0) }
    }),
    env: { ...d.env },
    ...(d.workdir ? { workdir: d.workdir } : {}),
    ...(d.user ? { user: d.user } : {}),
    ...(d.start ? { start: d.start } : {}),
    ...(d.ready ? { ready: d.ready } : {}),
    ...(d.resources ? { resources: d.resources } : {}),
    ...(d.network ? { network: { allowedDomains: [...d.network.allowedDomains], deniedDomains: [...d.network.deniedDomains] } } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(lastBuild ? { lastBuild: buildInfo(lastBuild) } : {}),
  }
}
