/**
 * @module contract/call-meta — what an agent may say about why it made a call: the run it belongs to,
 * the call it follows from, and the prompt, model and parameters behind it. The audit records it with the
 * call, so a run reads back as a decision graph (prompt → model output → action → result) and replays.
 *
 * HTTP carries it as JSON in the `x-tidepool-meta` header, MCP in a tool call's `_meta`, the SDK as the
 * client's `meta` option. Everything here is bounded: it lands in every audited record of the run.
 */
import { z } from 'zod'
import { boundedRecord, limits } from './common.js'

/** The HTTP header holding a CallMeta as JSON (ASCII: non-ASCII characters as \u escapes). */
export const callMetaHeader = 'x-tidepool-meta'
/** The response header naming the call (the audit record's requestId): the `parentId` of the calls it leads to. */
export const callIdHeader = 'x-request-id'
/** Longest prompt kept (characters); a longer one is refused rather than cut, so a replay sees what the model saw. */
export const maxPromptChars = 16_384

const RunId = z
  .string()
  .min(1)
  .max(limits.name)
  .refine((s) => !/[\s\u0000-\u001f]/.test(s), 'a run id has no spaces or control characters')

export const CallMeta = z
  .object({
    runId: RunId.optional().describe('The agent run this call belongs to: `GET /v1/audit/graph?run=` reads it back.'),
    parentId: z.string().min(1).max(limits.id).optional().describe('The call this one follows from: the x-request-id (requestId) an earlier call returned.'),
    prompt: z.string().max(maxPromptChars).optional().describe('The prompt the model answered with this call.'),
    model: z.string().min(1).max(limits.name).optional(),
    modelVersion: z.string().min(1).max(limits.name).optional(),
    parameters: boundedRecord(z.string().max(limits.name), z.union([z.string().max(limits.label), z.number(), z.boolean(), z.null()]), 32, 'parameters')
      .optional()
      .describe('Model parameters (temperature, top_p, …): flat scalars.'),
  })
  .strict()
  .meta({ id: 'CallMeta' })
export type CallMeta = z.infer<typeof CallMeta>

/** A CallMeta as the x-tidepool-meta header value: JSON with every non-ASCII character as a \u escape (headers are bytes). */
export function callMetaHeaderValue(meta: CallMeta): string {
  const json = JSON.stringify(meta)
  let out = ''
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    out += c < 0x80 ? json[i] : `\\u${c.toString(16).padStart(4, '0')}`
  }
  return out
}
