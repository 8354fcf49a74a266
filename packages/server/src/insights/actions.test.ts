import { describe, expect, it } from 'vitest'
import { cgroupHolds, RecordingActions, sandboxRemediationActions, type ClonePort, type SandboxPort } from './actions.js'

function port(state = 'running') {
  const calls: string[] = []
  const p: SandboxPort = {
    get: async (_project, id) => (id === 'sbx_gone00000000' ? undefined : { state, resources: { cpu: 1, memoryMb: 512, pids: 256 } }),
    resize: async (project, id, r) => void calls.push(`resize ${project} ${id} ${JSON.stringify(r)}`),
    snapshot: async (_project, id) => {
      calls.push(`snapshot ${id}`)
      return { id: 'snap_1' }
    },
  }
  return { p, calls }
}

describe('sandboxRemediationActions', () => {
  it('dry-runs a resize as current → target without changing anything, then applies it', async () => {
    const { p, calls } = port()
    const a = sandboxRemediationActions(p)
    expect(a.supports('resize')).toBe(true)
    expect(a.supports('reset_state')).toBe(false)
    const action = { project: 'p', kind: 'resize' as const, params: { sandboxId: 'sbx_abc123def456', dimension: 'memoryMb', factor: 2 } }
    expect(await a.dryRun(action)).toMatchObject({ ok: true, effect: { memoryMb: { from: 512, to: 1024 }, factor: 2 } })
    expect(calls).toEqual([])
    expect((await a.apply(action)).ok).toBe(true)
    expect(calls).toEqual(['resize p sbx_abc123def456 {"memoryMb":1024}'])
  })
  it('fails the dry run for a missing, stopped or unnamed sandbox', async () => {
    const a = sandboxRemediationActions(port().p)
    expect(await a.dryRun({ project: 'p', kind: 'resize', params: { sandboxId: 'sbx_gone00000000' } })).toMatchObject({ ok: false, detail: expect.stringContaining('not found') })
    expect(await a.dryRun({ project: 'p', kind: 'resize', params: {} })).toMatchObject({ ok: false, detail: expect.stringContaining('sandboxId') })
    const stopped = sandboxRemediationActions(port('stopped').p)
    expect(await stopped.apply({ project: 'p', kind: 'resize', params: { sandboxId: 'sbx_abc123def456' } })).toMatchObject({ ok: false, detail: expect.stringContaining('stopped') })
  })
  it('snapshots through the port', async () => {
    const { p, calls } = port()
    const out = await sandboxRemediationActions(p).apply({ project: 'p', kind: 'snapshot_on_failure', params: { sandboxId: 'sbx_abc123def456' } })
    expect(out).toMatchObject({ ok: true, effect: { snapshotId: 'snap_1' } })
    expect(calls).toEqual(['snapshot sbx_abc123def456'])
  })
  it('a resize is checked by reading the cgroup back: one that does not hold the new size is not ok', async () => {
    const { p } = port()
    const held = { memoryMb: 512, pids: 256, cpu: 1 }
    const checked = sandboxRemediationActions({ ...p, resize: async (_p, _id, r) => void Object.assign(held, r), limits: async () => ({ ...held }) })
    const action = { project: 'p', kind: 'resize' as const, params: { sandboxId: 'sbx_abc123def456', dimension: 'memoryMb', factor: 2 } }
    expect(await checked.apply(action)).toMatchObject({ ok: true, effect: { check: { ok: true, detail: 'cgroup memoryMb is 1024 (read 1024)' } } })
    const stuck = sandboxRemediationActions({ ...p, limits: async () => ({ memoryMb: 512, pids: 256 }) })
    expect(await stuck.apply(action)).toMatchObject({ ok: false, effect: { check: { ok: false, detail: 'cgroup memoryMb is not 1024 (read 512)' } } })
    expect(cgroupHolds({ memoryMb: 1, pids: 1, cpu: 0.995 }, 'cpu', 1).ok).toBe(true)
    expect(cgroupHolds(undefined, 'cpu', 1)).toEqual({ ok: false, detail: 'the cgroup could not be read' })
  })
  it('reset_state snapshots each bound clone, resets it to its start, and its revert goes back to that snapshot', async () => {
    const calls: string[] = []
    let t = 0
    const clones: ClonePort = {
      boundTo: async (_p, id) => (id === 'sbx_abc123def456' ? [{ id: 'cln_1', resetAt: undefined }] : []),
      snapshot: async (_p, id, label) => (calls.push(`snapshot ${id} ${label}`), { id: 'dsnap_1' }),
      reset: async (_p, id, to) => (calls.push(`reset ${id} ${to}`), { id, resetAt: `t${++t}` }),
    }
    const a = sandboxRemediationActions({ ...port().p, clones })
    expect(a.supports('reset_state') && a.supports('reseed')).toBe(true)
    const action = { project: 'p', kind: 'reset_state' as const, params: { sandboxId: 'sbx_abc123def456' } }
    expect(await a.dryRun(action)).toMatchObject({ ok: true, effect: { clones: 1 } })
    expect(calls).toEqual([])
    const out = await a.apply(action)
    expect(out).toMatchObject({ ok: true, effect: { clones: [{ id: 'cln_1', before: 'dsnap_1', resetAt: 't1' }], check: { ok: true } } })
    expect(calls).toEqual(['snapshot cln_1 before reset_state', 'reset cln_1 start'])
    expect(await a.revert!(action, out.effect)).toMatchObject({ ok: true, effect: { clones: [{ id: 'cln_1', to: 'dsnap_1' }] } })
    expect(calls.at(-1)).toBe('reset cln_1 dsnap_1')
    expect(await a.dryRun({ ...action, params: { sandboxId: 'sbx_other0000000' } })).toMatchObject({ ok: false, detail: expect.stringContaining('no clone bound') })
  })
  it('the revert of snapshot_on_failure disarms the sandbox', async () => {
    const armed = new Set(['sbx_abc123def456'])
    const a = sandboxRemediationActions({ ...port().p, disarm: (id) => armed.delete(id) })
    const out = await a.revert!({ project: 'p', kind: 'snapshot_on_failure', params: { sandboxId: 'sbx_abc123def456' } }, undefined)
    expect(out).toMatchObject({ ok: true, effect: { check: { detail: 'sbx_abc123def456 armed before, not any more' } } })
    expect(armed.size).toBe(0)
  })
  it('RecordingActions records every call', async () => {
    const r = new RecordingActions(['resize'])
    await r.dryRun({ project: 'p', kind: 'resize', params: {} })
    expect(r.calls.map((c) => c.op)).toEqual(['dryRun'])
    expect(r.supports('reseed')).toBe(false)
  })
})
