import type { AuditRecord } from '@tidepool/sdk'
import { describe, expect, it } from 'vitest'
import { decisionGraph, toMermaid } from './decision-graph.js'
import { auditResultOf, normaliseResult } from './result-digest.js'

const rec = (seq: number, action: string, extra: Partial<AuditRecord> = {}): AuditRecord => ({
  seq,
  at: '2026-12-03T00:00:00.000Z',
  actor: 'tok_a (agent)',
  project: 'default',
  action,
  outcome: 'ok',
  requestId: `req_${seq}`,
  prevHash: 'x',
  hash: 'y',
  ...extra,
})

describe('decisionGraph', () => {
  it('links prompt → model → action → result, shares a repeated prompt, and follows parentId', () => {
    const call = { runId: 'r1', prompt: 'fix the test', model: 'm', modelVersion: '1' }
    const g = decisionGraph('r1', [
      rec(1, 'createSandbox', { target: 'sbx_1', call, result: auditResultOf({ id: 'sbx_1' }) }),
      rec(2, 'exec', { target: 'sbx_1', call: { ...call, parentId: 'req_1' }, result: auditResultOf({ exitCode: 1 }) }),
      rec(3, 'exec', { target: 'sbx_1', call: { runId: 'r1', prompt: 'try again', parentId: 'req_2' } }),
      rec(4, 'exec:result', { target: 'sbx_1', requestId: 'req_3', call: { runId: 'r1' }, result: auditResultOf({ exitCode: 0 }, true) }),
    ])
    expect(g.nodes.filter((n) => n.kind === 'prompt').map((n) => n.label)).toEqual(['fix the test', 'try again'])
    expect(g.edges).toContainEqual({ from: 'p1', to: 'm_s1', kind: 'asked' })
    expect(g.edges).toContainEqual({ from: 'm_s1', to: 'a_s1', kind: 'called' })
    expect(g.edges).toContainEqual({ from: 'a_s1', to: 'r_s1', kind: 'returned' })
    expect(g.edges).toContainEqual({ from: 'r_s1', to: 'm_s2', kind: 'led_to' })
    // No model on the third call: the parent's result leads to its action.
    expect(g.edges).toContainEqual({ from: 'r_s2', to: 'a_s3', kind: 'led_to' })
    // The stream's end completes the third call's result node instead of making nodes of its own.
    expect(g.nodes.find((n) => n.id === 'r_s3')?.label).toBe('ok exit 0')
    expect(g.nodes.some((n) => n.id.endsWith('s4'))).toBe(false)
    expect(g.records).toBe(4)
    expect(g.mermaid.startsWith('flowchart TD\n')).toBe(true)
  })

  it('writes labels so no text can inject Mermaid syntax', () => {
    const m = toMermaid({ nodes: [{ id: 'p1', kind: 'prompt', label: 'a"] --> evil[("x")|y' }], edges: [] })
    expect(m).toBe('flowchart TD\n  p1[/"prompt: a#quot;#93; --#gt; evil#91;#40;#quot;x#quot;#41;#124;y"/]\n')
  })

  it('digests results independently of ids, times and durations, but not of what changed', () => {
    const a = auditResultOf({ id: 'sbx_abcdef123456', createdAt: '2026-01-01', exitCode: 0, stdout: 'hi' })
    const b = auditResultOf({ id: 'sbx_zzzzzz999999', createdAt: '2026-02-02', exitCode: 0, stdout: 'hi' })
    const c = auditResultOf({ id: 'sbx_zzzzzz999999', createdAt: '2026-02-02', exitCode: 1, stdout: 'hi' })
    expect(a.digest).toBe(b.digest)
    expect(a.digest).not.toBe(c.digest)
    expect(normaliseResult({ pid: 4, ms: 3, ok: true })).toEqual({ pid: '<…>', ms: '<…>', ok: true })
  })
})
