/**
 * @module contract/actions — built-in actions: deterministic, governed validation primitives (exec,
 * assertions, wait-for, file diffs, log capture) that agents and workflow steps (`uses:`) run by name.
 */
import { z } from 'zod'
import { boundedJson, boundedRecord, limits } from './common.js'
import type { Operation } from './operation.js'
import { SandboxId } from './sandbox.js'

/** Action names: dotted lower-case words (`assert.equals`, `wait.for`); never a prototype key. */
export const ActionName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)*$/, 'action names are dotted lower-case words, e.g. assert.equals')
  .describe('Action name, e.g. exec, assert.equals, wait.for.')

export const ActionInfo = z
  .object({
    name: ActionName,
    summary: z.string(),
    needsSandbox: z.boolean().describe('The action runs inside a sandbox: sandboxId is required.'),
    readOnly: z.boolean().describe('The action only observes (it changes nothing in the sandbox or elsewhere).'),
    timeoutMs: z.number().int().describe('Default deadline of one run; the input may lower it.'),
    inputSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of `input`.'),
    outputSchema: z.record(z.string(), z.unknown()).describe('JSON Schema of `output`.'),
  })
  .meta({ id: 'ActionInfo' })
export type ActionInfo = z.infer<typeof ActionInfo>

export const ActionList = z.object({ items: z.array(ActionInfo).describe('Sorted by name.') }).meta({ id: 'ActionList' })

export const RunActionInput = z
  .object({
    name: ActionName,
    sandboxId: SandboxId.optional().describe('The sandbox the action acts in (for actions that need one).'),
    input: boundedRecord(z.string().max(limits.name), boundedJson(1_000_000), 64, 'input fields').default({}).describe("The action's own input (see its inputSchema)."),
    timeoutMs: z.number().int().min(1).max(600_000).optional().describe("Lower the action's deadline (never raise it)."),
    timing: z.boolean().default(false).describe('Add durationMs to the result (off by default: results stay deterministic).'),
  })
  .strict()
  .meta({ id: 'RunActionInput' })

export const ActionResult = z
  .object({
    ok: z.boolean().describe('The action succeeded (an assertion held, the condition was met, the command exited 0).'),
    output: z.unknown().describe("The action's output (see its outputSchema); keys sorted."),
    durationMs: z.number().optional().describe('Only when timing was asked for.'),
  })
  .meta({ id: 'ActionResult' })
export type ActionResult = z.infer<typeof ActionResult>

export const actionsOps = {
  listActions: {
    method: 'GET',
    path: '/v1/actions',
    summary: 'Built-in actions with their input and output JSON Schemas',
    scope: 'sandboxes:read',
    input: z.object({}).strict(),
    output: ActionList,
    mcp: true,
    tags: ['actions'],
  },
  runAction: {
    method: 'POST',
    path: '/v1/actions/{name}/run',
    summary: 'Run one built-in action (deterministic output; actions that need a sandbox take sandboxId)',
    scope: 'sandboxes:read',
    input: RunActionInput,
    output: ActionResult,
    maxBodyBytes: 8 * 1024 * 1024,
    tags: ['actions'],
  },
} as const satisfies Record<string, Operation>
