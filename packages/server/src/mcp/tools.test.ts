import { operations, type Operation } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { ActionService } from '../actions/service.js'
import { actionTools, operationTools, toolName } from './tools.js'

const actions = new ActionService({
  sandbox: {
    exec: async () => {
      throw new Error('unused')
    },
  },
}).list()

describe('MCP tools from the operation table', () => {
  it('has one tool per mcp: true operation, and nothing else', () => {
    const flagged = Object.entries(operations)
      .filter(([, op]) => (op as Operation).mcp)
      .map(([name, op]) => (op as Operation).mcpName ?? toolName(name))
    expect(operationTools().map((t) => t.name)).toEqual(flagged)
  })

  it('gives every tool a valid MCP name and an object schema at the top', () => {
    for (const t of [...operationTools(), ...actionTools(actions)]) {
      expect(t.name, t.name).toMatch(/^[a-z0-9_]{1,64}$/)
      expect(t.inputSchema.type, t.name).toBe('object')
      expect(t.inputSchema.$ref, t.name).toBeUndefined()
    }
  })

  it('sets annotations from the method: GET read-only, DELETE destructive and idempotent, create neither', () => {
    const by = new Map(operationTools().map((t) => [t.op, t.annotations]))
    expect(by.get('listSandboxes')).toMatchObject({ readOnlyHint: true, destructiveHint: false, idempotentHint: true })
    expect(by.get('deleteSandbox')).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true })
    expect(by.get('createSandbox')).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false })
    expect(by.get('exec')).toMatchObject({ readOnlyHint: false, destructiveHint: true })
    expect(by.get('resetClone')).toMatchObject({ destructiveHint: true })
    expect(by.get('replayRun')).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: false })
  })

  it('carries raw file bytes as text or base64, and action arguments as the action input', () => {
    const write = operationTools().find((t) => t.op === 'writeFile')!
    expect(write.toInput({ id: 'sbx_aaaaaaaa', path: '/a', content: 'AP8=', encoding: 'base64' })).toEqual({ id: 'sbx_aaaaaaaa', path: '/a', content: Buffer.from([0, 255]) })
    const read = operationTools().find((t) => t.op === 'readFile')!
    expect(read.fromOutput(new Uint8Array([104, 105]), {})).toEqual({ encoding: 'utf8', content: 'hi', bytes: 2 })
    const diff = actionTools(actions).find((t) => t.name === 'action_files_diff')!
    expect(diff.inputSchema.required).toEqual(['since', 'sandboxId'])
    expect(diff.toInput({ sandboxId: 'sbx_aaaaaaaa', since: { root: '/w', entries: [] } })).toEqual({ name: 'files.diff', sandboxId: 'sbx_aaaaaaaa', input: { since: { root: '/w', entries: [] } } })
    const eq = actionTools(actions).find((t) => t.name === 'action_assert_equals')!
    expect(eq.annotations.readOnlyHint).toBe(true)
    expect(eq.inputSchema.properties).not.toHaveProperty('sandboxId')
  })
})
