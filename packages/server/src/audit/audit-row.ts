/** @module audit/audit-row — an audit record as stored: the hashed canonical text plus columns to filter on. */
import { createHash } from 'node:crypto'
import type { AuditRecord } from '@tidepool/sdk'
import type { AuditRow } from '../store/schema.js'
import { canonicalJson } from './canonical-json.js'

export type AuditBody = Omit<AuditRecord, 'hash'>

/** SHA-256 of exactly this text (UTF-8): what each record's hash and the next record's prevHash hold. */
export function hashText(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** The hashed content of a record: every field but `hash` itself, chained through `prevHash`. */
export function recordHash(r: AuditBody): string {
  return hashText(canonicalJson(r))
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * A string as a text column can hold it on SQLite and PostgreSQL alike: a lone surrogate becomes
 * U+FFFD (what the drivers would silently make of it) and NUL too (PostgreSQL refuses it). Only the
 * filter columns go through this; the hashed text keeps the exact string, escaped.
 */
export function columnText(s: string): string {
  return s.replace(loneSurrogate, '\ufffd').replaceAll('\u0000', '\ufffd')
}

/** The row for a record whose hashed text is `body` (canonicalJson of the record without its hash). */
export function toRow(r: AuditRecord, body: string): AuditRow {
  return {
    seq: r.seq,
    at: columnText(r.at),
    actor: columnText(r.actor),
    project: columnText(r.project),
    action: columnText(r.action),
    target: r.target === undefined ? null : columnText(r.target),
    outcome: columnText(r.outcome),
    request_id: r.requestId === undefined ? null : columnText(r.requestId),
    // The data lives in the hashed text only; a second copy would be one more thing to tamper with.
    data: null,
    prev_hash: r.prevHash,
    hash: r.hash,
    body,
    run_id: r.call?.runId === undefined ? null : columnText(r.call.runId),
  }
}

/** Which filter column of `row` disagrees with the hashed record `r`, if any. */
export function columnMismatch(row: AuditRow, r: AuditRecord): string | undefined {
  const expected: [keyof AuditRow, string | null][] = [
    ['at', columnText(r.at)],
    ['actor', columnText(r.actor)],
    ['project', columnText(r.project)],
    ['action', columnText(r.action)],
    ['target', r.target === undefined ? null : columnText(r.target)],
    ['outcome', columnText(r.outcome)],
    ['request_id', r.requestId === undefined ? null : columnText(r.requestId)],
    ['data', null],
    ['run_id', r.call?.runId === undefined ? null : columnText(r.call.runId)],
  ]
  return expected.find(([col, v]) => row[col] !== v)?.[0]
}

/**
 * The record a row holds: parsed from its hashed text when it has one (so what is listed is what is
 * hashed), else rebuilt from the columns, as rows written before migration 0400 were.
 */
export function fromRow(row: AuditRow): AuditRecord {
  if (row.body !== null) return { ...(JSON.parse(row.body) as AuditBody), hash: row.hash }
  return {
    seq: Number(row.seq),
    at: row.at,
    actor: row.actor,
    project: row.project,
    action: row.action,
    ...(row.target !== null ? { target: row.target } : {}),
    outcome: row.outcome,
    ...(row.request_id !== null ? { requestId: row.request_id } : {}),
    ...(row.data !== null ? { data: JSON.parse(row.data) as unknown } : {}),
    prevHash: row.prev_hash,
    hash: row.hash,
  }
}
