/** @module gate/config — configuration keys of the sandbox-first gate (every key has a default). */
import { z } from 'zod'

export const GateConfig = z
  .object({
    maxRowsChanged: z.number().int().min(0).default(10_000).describe("Most rows a rehearsal may change in all before the verdict is fail (a proposal's expect.maxRowsChanged lowers or raises it)."),
    maxDurationMs: z.number().int().min(1).default(30_000).describe('Longest artifact run in a rehearsal before the verdict is inconclusive.'),
    standingApproval: z
      .object({
        after: z.number().int().min(1).default(100).describe('Clean identical rehearsals (same target, same artifact) that earn a standing approval.'),
        windowSeconds: z
          .number()
          .int()
          .min(60)
          .default(30 * 86_400)
          .describe('Window the clean rehearsals are counted in.'),
      })
      .strict()
      .prefault({}),
    cloneTtlSeconds: z.number().int().min(60).default(600).describe('TTL of a rehearsal clone (it is deleted when the rehearsal ends; the TTL covers a crash).'),
    lockSampleMs: z.number().int().min(5).default(20).describe('How often pg_locks of the rehearsal backend is sampled while the artifact runs.'),
  })
  .strict()
export type GateConfig = z.infer<typeof GateConfig>
