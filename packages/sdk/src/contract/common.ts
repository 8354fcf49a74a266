/**
 * @module contract/common — small shared schemas, and the bounds every input field takes.
 *
 * Every string, array and record of an operation's input has a maximum, every number both ends
 * (contract/bounds.test.ts checks it), so the server refuses oversized input with a coded 400 that
 * names the field and the limit before it does any work. The HTTP body limits (1 MiB JSON, 32 MiB for
 * exec and run events) bound a whole request; these bound each field inside it.
 */
import { z } from 'zod'

/** Largest names and labels: token, template and file names (`Name`), branches, owners and other labels (`Label`). */
export const limits = {
  name: 128,
  label: 256,
  /** PATH_MAX on Linux. */
  path: 4096,
  /** Generated ids (sbx_…, dsrc_…) and references to them. */
  id: 64,
  metadataKeys: 32,
  envs: 256,
  /** A safe integer: counters and sequence numbers never exceed it. */
  count: Number.MAX_SAFE_INTEGER,
} as const

export const Name = z.string().min(1).max(limits.name)
export const Label = z.string().min(1).max(limits.label)
export const Path = z.string().min(1).max(limits.path)

/**
 * A record with at most `maxEntries` entries (zod has no .max() for records). The count is checked even
 * when some entries are invalid, so an oversized record is always refused as oversized.
 */
export function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V, maxEntries: number, what: string) {
  return z.record(key, value).refine((r) => Object.keys(r).length <= maxEntries, {
    message: `at most ${maxEntries} ${what}`,
    when: (payload) => typeof payload.value === 'object' && payload.value !== null,
  })
}

const MetadataKey = z.string().min(1).max(64)
const MetadataValue = z.string().max(256)
export const Metadata = boundedRecord(MetadataKey, MetadataValue, limits.metadataKeys, 'metadata keys').describe('Free-form string labels; filter lists with metadata.<key>=<value>.')
/** A metadata filter: the same keys and values a sandbox's metadata can hold. */
export const MetadataFilter = boundedRecord(MetadataKey, MetadataValue, limits.metadataKeys, 'metadata filters')

export const Envs = boundedRecord(
  z
    .string()
    .max(limits.label)
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'),
  z.string().max(32_768),
  limits.envs,
  'envs',
).describe('Environment variables (at most 256, names up to 256 bytes, values up to 32 KiB). Values are never logged and are redacted in the audit log.')

export const PageInput = {
  limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Page size (1–1000).'),
  nextToken: z.string().max(512).optional().describe('Token from the previous page.'),
}

export function page<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextToken: z.string().optional().describe('Pass to get the next page; absent on the last page.'),
  })
}

/** RFC 3339 is at most 35 characters (fractions of nanoseconds and an offset); 64 leaves room. */
export const Timestamp = z.string().max(64).describe('RFC 3339 timestamp (UTC).')

/** Serialised size of a JSON value, counted without building the text; stops once over `max` (or deeper than `maxDepth`). */
function jsonSizeOver(value: unknown, max: number, maxDepth: number): boolean {
  let size = 0
  const stack: [unknown, number][] = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (depth > maxDepth) return true
    if (v === undefined) continue // an absent value, as JSON.stringify drops it
    if (typeof v === 'string') size += v.length + 2
    else if (typeof v === 'number' || typeof v === 'boolean' || v === null) size += String(v).length
    else if (Array.isArray(v)) {
      size += 2 + v.length
      for (const x of v) stack.push([x, depth + 1])
    } else if (typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        size += k.length + 4
        stack.push([x, depth + 1])
      }
    } else return true // functions, symbols, bigint: not JSON
    if (size > max) return true
  }
  return false
}

/** Any JSON value, at most `maxBytes` (UTF-16 units) when serialised and 32 levels deep. */
export function boundedJson(maxBytes: number) {
  return z.unknown().refine((v) => !jsonSizeOver(v, maxBytes, 32), `must be JSON of at most ${maxBytes} characters and 32 levels`)
}
