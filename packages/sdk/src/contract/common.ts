/** @module contract/common — small shared schemas. */
import { z } from 'zod'

export const Metadata = z
  .record(z.string().min(1).max(64), z.string().max(256))
  .refine((m) => Object.keys(m).length <= 32, 'at most 32 metadata keys')
  .describe('Free-form string labels; filter lists with metadata.<key>=<value>.')

export const Envs = z
  .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _'), z.string().max(32_768))
  .describe('Environment variables. Values are never logged and are redacted in the audit log.')

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

export const Timestamp = z.string().describe('RFC 3339 timestamp (UTC).')
