/** @module templates/tables — the templates area's view of the store (tables of migration 0500-templates, row types in store/schema.ts). */
import type { Db } from '../store/db.js'
import type { TemplateBuildRow, TemplateLayerRow, TemplateRow, TemplateTables } from '../store/schema.js'

export type { TemplateBuildRow, TemplateLayerRow, TemplateRow }
export type TemplatesDb = ReturnType<typeof templatesDb>

export function templatesDb(db: Db) {
  return db.withTables<TemplateTables>()
}

/** A template's layers as stored in `layer_keys`. */
export interface LayerKey {
  key: string
  step: number
}

/** What a template sets for the sandboxes that start from it (the `defaults` column). */
export interface TemplateDefaults {
  env: Record<string, string>
  workdir?: string | undefined
  user?: 'root' | 'user' | undefined
  start?: string[] | undefined
  ready?: { cmd: string[]; timeoutMs: number; intervalMs: number } | undefined
  resources?: { cpu?: number | undefined; memoryMb?: number | undefined; pids?: number | undefined; diskMb?: number | undefined } | undefined
  /** The template level of egress policy (build run steps ran with it; sandboxes get it). */
  network?: { allowedDomains: string[]; deniedDomains: string[] } | undefined
}

/** JSON from the store as a null-prototype record (a key like __proto__ stays data). */
export function parseRecord<T>(text: string): T {
  return JSON.parse(text, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.assign(Object.create(null) as object, v) : v)) as T
}
