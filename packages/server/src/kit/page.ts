/** @module kit/page — keyset pages: the one place a list's items become `{ items, nextToken? }`. */
import { AppError } from '../core/errors.js'
import { decodeCursor, encodeCursor } from './cursor.js'

export interface Page<T> {
  items: T[]
  nextToken?: string
}

/**
 * A page from a query that fetched `limit + 1` rows after the cursor: the first `limit` items, and when
 * there were more, a cursor holding the key of the last one returned (by default its `id`).
 */
export function pageOf<T extends { id: string }>(items: T[], limit: number): Page<T>
export function pageOf<T>(items: T[], limit: number, key: (t: T) => string): Page<T>
export function pageOf<T>(items: T[], limit: number, key: (t: T) => string = (t) => (t as { id: string }).id): Page<T> {
  if (items.length <= limit) return { items }
  const page = items.slice(0, limit)
  return { items: page, nextToken: encodeCursor(key(page[page.length - 1]!)) }
}

/**
 * Offset pages, for lists ordered by a computed score (insights' flakiness ranking) where no stable key
 * exists to resume after: the token holds the offset of the next page. Same token format as keyset pages.
 */
export function offsetOf(token: string | undefined): number {
  const k = decodeCursor(token)
  const n = k === undefined ? 0 : Number(k)
  if (!Number.isInteger(n) || n < 0) throw new AppError('invalid_request', 'nextToken is not a token this API returned; pass the nextToken of the previous page')
  return n
}

/** A page from a query that fetched `limit + 1` rows from `offset`. */
export function offsetPageOf<T>(items: T[], offset: number, limit: number): Page<T> {
  return items.length > limit ? { items: items.slice(0, limit), nextToken: encodeCursor(String(offset + limit)) } : { items }
}

/** Rows a scan reads per query while filtering in code. */
const SCAN_BATCH = 500

/**
 * A keyset page of the rows that pass a filter the database cannot apply (a JSON column's labels or
 * metadata): reads batches of rows after the cursor, in id order, until `limit + 1` pass or the rows
 * run out; the token then resumes after the last item returned.
 */
export async function filteredPageOf<R extends { id: string }, T>(o: {
  nextToken: string | undefined
  limit: number
  /** Up to `n` rows with id > `after` (all rows when undefined), ordered by id. */
  fetch: (after: string | undefined, n: number) => Promise<R[]>
  keep: (row: R) => boolean
  view: (row: R) => T
}): Promise<Page<T>> {
  const kept: R[] = []
  let cursor = decodeCursor(o.nextToken)
  for (;;) {
    const rows = await o.fetch(cursor, SCAN_BATCH)
    for (const row of rows) {
      if (o.keep(row)) kept.push(row)
      if (kept.length > o.limit) break
    }
    if (kept.length > o.limit || rows.length < SCAN_BATCH) break
    cursor = rows[rows.length - 1]!.id
  }
  const page = pageOf(kept, o.limit)
  return { ...page, items: page.items.map(o.view) }
}

/** Whether a JSON record column holds every key/value of `wanted` (own keys only: no prototype reaches in). */
export function hasAll(recordJson: string, wanted: readonly [string, string][]): boolean {
  if (wanted.length === 0) return true
  const record = JSON.parse(recordJson) as Record<string, string>
  return wanted.every(([k, v]) => Object.hasOwn(record, k) && record[k] === v)
}

/** A keyset page of rows in id order: `fetch` reads up to `n` rows after the cursor, `view` makes each an item. */
export async function keysetPageOf<R extends { id: string }, T>(o: {
  nextToken?: string | undefined
  limit: number
  fetch: (after: string | undefined, n: number) => Promise<R[]>
  view: (row: R) => T | Promise<T>
}): Promise<Page<T>> {
  const page = pageOf(await o.fetch(decodeCursor(o.nextToken), o.limit + 1), o.limit)
  return { ...page, items: await Promise.all(page.items.map(o.view)) }
}
