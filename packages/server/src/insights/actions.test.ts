import { describe, expect, it } from 'vitest'
import { RecordingActions, sandboxRemediationActions, type SandboxPort } from './actions.js'

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
  it('RecordingActions records every call', async () => {
    const r = new RecordingActions(['resize'])
    await r.dryRun({ project: 'p', kind: 'resize', params: {} })
    expect(r.calls.map((c) => c.op)).toEqual(['dryRun'])
    expect(r.supports('reseed')).toBe(false)
  })
})
