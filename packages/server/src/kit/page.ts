/** @module kit/page — keyset pages: the one place a list's items become `{ items, nextToken? }`. */
import { encodeCursor } from './cursor.js'

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
