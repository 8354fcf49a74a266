/**
 * @module mcp/tools — MCP tools derived from the operation table's `mcp: true` entries, plus one tool per
 * built-in action. Names: the op name in snake_case (createSandbox → create_sandbox), `action_` + the
 * action name with dots as underscores (assert.equals → action_assert_equals). Input schemas are the
 * ops' zod inputs as JSON Schema; validation, scopes and audit happen in dispatch, as for HTTP.
 */
import { operations, type ActionInfo, type Operation, type OpName } from '@tidepool/sdk'
import { z } from 'zod'
import { AppError } from '../core/errors.js'
import { maxToolFileBytes } from './backend.js'

/** What a tool does when called: the op it ends in, and how its arguments become that op's input. */
export interface ToolDef {
  name: string
  description: string
  inputSchema: { type: 'object'; [k: string]: unknown }
  annotations: { title: string; readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean }
  op: OpName
  /** Tool arguments → op input (identity for plain ops). */
  toInput(args: Record<string, unknown>): Record<string, unknown>
  /** The op result → what the tool returns as JSON (identity for plain ops). */
  fromOutput(result: unknown, args: Record<string, unknown>): unknown
}

const same = <T>(v: T) => v

export function toolName(op: string): string {
  return op.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)
}

export function actionToolName(action: string): string {
  return `action_${action.replaceAll('.', '_')}`
}

/** Destructive: may overwrite or remove what exists, or run arbitrary commands. */
function destructive(name: string, op: Operation): boolean {
  if (op.method === 'DELETE' || op.method === 'PUT') return true
  return name === 'exec' || /^(delete|kill|reset|revoke|rename)/.test(name)
}

function jsonSchema(schema: z.ZodType): { type: 'object'; [k: string]: unknown } {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  delete s.$schema
  return { ...hoisted(s), type: 'object' }
}

/**
 * A schema named with .meta({ id }) comes out as `{ $ref: '#/$defs/Id', $defs }`; MCP wants the object
 * itself at the top (type, properties, required), so the referenced definition is lifted up. Other
 * definitions stay in $defs, where the remaining $refs point.
 */
function hoisted(s: Record<string, unknown>): Record<string, unknown> {
  const ref = s.$ref
  if (typeof ref !== 'string' || !ref.startsWith('#/$defs/')) return s
  const defs = { ...(s.$defs as Record<string, Record<string, unknown>>) }
  const top = defs[ref.slice('#/$defs/'.length)]
  if (!top) return s
  delete defs[ref.slice('#/$defs/'.length)]
  return { ...top, ...(Object.keys(defs).length ? { $defs: defs } : {}) }
}

const encoding = z.enum(['utf8', 'base64']).default('utf8').describe('How the file content is given (utf8 text, or base64 for binary).')

/** Ops whose raw bytes MCP carries as text: the tool takes/gives a string with an encoding. */
function rawAdapter(op: Operation): Pick<ToolDef, 'inputSchema' | 'toInput' | 'fromOutput'> | undefined {
  if (op.rawBody) {
    const field = op.rawBody
    const shape = {
      ...op.input.shape,
      [field]: z
        .string()
        .max(8 * 1024 * 1024)
        .describe('The file content.'),
      encoding,
    }
    return {
      inputSchema: jsonSchema(z.object(shape).strict()),
      toInput: ({ encoding: enc, ...rest }) => {
        const text = rest[field]
        return { ...rest, [field]: typeof text === 'string' ? Buffer.from(text, enc === 'base64' ? 'base64' : 'utf8') : text }
      },
      fromOutput: same,
    }
  }
  if (op.output === 'raw') {
    return {
      inputSchema: jsonSchema(op.input.extend({ encoding })),
      toInput: ({ encoding: _e, ...rest }) => rest,
      fromOutput: (bytes, args) => {
        const b = Buffer.from(bytes as Uint8Array)
        if (b.byteLength > maxToolFileBytes)
          throw new AppError('payload_too_large', `the file has ${b.byteLength} bytes, more than a tool result carries (${maxToolFileBytes}); read parts with exec (head -c / tail -c)`)
        return args.encoding === 'base64' ? { encoding: 'base64', content: b.toString('base64'), bytes: b.byteLength } : { encoding: 'utf8', content: b.toString('utf8'), bytes: b.byteLength }
      },
    }
  }
  return undefined
}

/** One tool per `mcp: true` operation, in table order (ops added later with the flag appear with no change here). */
export function operationTools(): ToolDef[] {
  const out: ToolDef[] = []
  for (const name of Object.keys(operations) as OpName[]) {
    const op = operations[name] as Operation
    if (!op.mcp) continue
    const raw = rawAdapter(op)
    const readOnly = op.method === 'GET'
    out.push({
      name: op.mcpName ?? toolName(name),
      description: op.summary,
      inputSchema: raw?.inputSchema ?? jsonSchema(op.input),
      annotations: {
        title: op.summary,
        readOnlyHint: readOnly,
        destructiveHint: !readOnly && destructive(name, op),
        idempotentHint: readOnly || op.method === 'PUT' || op.method === 'DELETE' || op.summary.includes('idempotent'),
        openWorldHint: false,
      },
      op: name,
      toInput: raw?.toInput ?? same,
      fromOutput: raw?.fromOutput ?? same,
    })
  }
  return out
}

/** One tool per action: its input fields at the top level, plus sandboxId where it runs in a sandbox. */
export function actionTools(actions: ActionInfo[]): ToolDef[] {
  return actions.map((a) => {
    const schema = { ...a.inputSchema } as Record<string, unknown>
    delete schema.$schema
    const props = { ...((schema.properties as Record<string, unknown> | undefined) ?? {}) }
    const required = [...((schema.required as string[] | undefined) ?? [])]
    if (a.needsSandbox) {
      props.sandboxId = { type: 'string', description: 'The sandbox to run in (sbx_…).' }
      required.push('sandboxId')
    }
    return {
      name: actionToolName(a.name),
      description: `${a.summary} (action ${a.name})`,
      inputSchema: { ...schema, type: 'object', properties: props, required },
      annotations: { title: `action ${a.name}`, readOnlyHint: a.readOnly, destructiveHint: !a.readOnly, idempotentHint: a.readOnly, openWorldHint: false },
      op: 'runAction',
      toInput: ({ sandboxId, ...input }) => ({ name: a.name, ...(sandboxId !== undefined ? { sandboxId } : {}), input }),
      fromOutput: same,
    }
  })
}
