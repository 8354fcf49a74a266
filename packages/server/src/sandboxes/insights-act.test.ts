/** The feedback loop acting on sandboxes as main.ts wires it: figures joined from the cgroup, resize up and back down, rollbacks with their checks, rerun requests. */
import type { SandboxEvent } from '@tidepool/sdk'
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

const MiB = 1048576
const p = 'default'
const xml = (fail: string | undefined) =>
  `<testsuite name="s">${Array.from({ length: 30 }, (_, i) => `<testcase classname="s" name="ok ${i}" time="0.1"/>`).join('')}<testcase classname="s" name="heavy" time="0.1">${
    fail ? `<failure message="${fail}">${fail}</failure>` : ''
  }</testcase></testsuite>`

async function plane() {
  const runtime = new FakeRuntime()
  tp = await testPlane(runtime)
  await tp.svc.insights.putSettings(p, { mode: 'auto', quarantineOwner: 'team' })
  const sbx = (await (await tp.call('POST', '/v1/sandboxes', { body: { resources: { memoryMb: 512 } } })).json()) as { id: string }
  const run = async (id: string, commit: string, fail?: string, attempt = 1) => {
    tp.clock.advance(60_000)
    await tp.svc.insights.createRun(p, { id, commit, branch: 'main', attempt, variant: {}, infra: { sandboxId: sbx.id } })
    await tp.svc.insights.ingestJunit(p, id, Buffer.from(xml(fail)), { name: 'report.xml' })
    return tp.svc.insights.finishRun(p, id)
  }
  const audit = async (action: string) =>
    ((await (await tp.call('GET', `/v1/audit?limit=1000&action=${action}`)).json()) as { items: { action: string; actor: string; outcome: string; data: Record<string, unknown> }[] }).items
  return { runtime, sbx, run, audit, limits: () => runtime.sandboxes.get(sbx.id)!.limits }
}

describe('the act side on a sandbox', () => {
  it('a memory-starved run (from the cgroup, not the CI) is resized up, and back down when the next run in the sandbox ends', async () => {
    const { runtime, sbx, run, audit, limits } = await plane()
    runtime.statsOverride.set(sbx.id, { memoryPeakBytes: 510 * MiB, oomKills: 1 })
    const red = await run('r1', 'c1', 'Killed')
    expect(red.run.infra).toMatchObject({ memoryPeakBytes: 510 * MiB, memoryLimitBytes: 512 * MiB, oomKills: 1, figuresFrom: `${sbx.id} (live)` })
    const triage = await tp.svc.insights.triage(p, 'r1')
    expect(triage.failures[0]!.evidence.map((e) => e.detail)).toContain('memory-starved: 1 process(es) OOM-killed')
    const resize = red.remediations.find((r) => r.kind === 'resize')!
    expect(resize).toMatchObject({ status: 'applied', result: { effect: { memoryMb: { from: 512, to: 1024 }, check: { ok: true } } } })
    expect(limits().memoryMb).toBe(1024)
    runtime.statsOverride.delete(sbx.id)
    await run('r2', 'c2')
    expect(limits().memoryMb).toBe(512)
    const after = (await tp.svc.insights.listRemediations(p, { kind: 'resize', limit: 10 })).items.find((r) => r.id === resize.id)!
    expect(after).toMatchObject({ status: 'applied', result: { restored: { afterRun: 'r2', ok: true } } })
    expect((await audit('insights.remediation.restore'))[0]).toMatchObject({ actor: 'system:remediation', outcome: 'ok' })
  })

  it('a resize no run follows goes back down after remediation.resizeRestoreMinutes (the reaper tick)', async () => {
    const { runtime, sbx, run, audit, limits } = await plane()
    runtime.statsOverride.set(sbx.id, { memoryPeakBytes: 500 * MiB })
    const resize = (await run('r1', 'c1', 'Killed')).remediations.find((r) => r.kind === 'resize')!
    expect(limits().memoryMb).toBe(1024)
    tp.clock.advance(60 * 60_000)
    expect(await tp.svc.insights.restoreDueResizes()).toBe(0)
    expect(limits().memoryMb).toBe(1024)
    tp.clock.advance(61 * 60_000)
    expect(await tp.svc.insights.restoreDueResizes()).toBe(1)
    expect(limits().memoryMb).toBe(512)
    expect((await tp.svc.insights.listRemediations(p, { kind: 'resize', limit: 10 })).items.find((r) => r.id === resize.id)).toMatchObject({
      status: 'applied',
      result: { restored: { afterRun: 'ttl', ok: true } },
    })
    expect(await tp.svc.insights.restoreDueResizes()).toBe(0)
    expect((await audit('insights.remediation.restore')).length).toBe(1)
  })

  it('rejecting an applied resize reverts the limits, with its own audit record and check', async () => {
    const { runtime, sbx, run, audit, limits } = await plane()
    runtime.statsOverride.set(sbx.id, { memoryPeakBytes: 500 * MiB })
    const resize = (await run('r1', 'c1', 'Killed')).remediations.find((r) => r.kind === 'resize')!
    expect(limits().memoryMb).toBe(1024)
    const back = (await (await tp.call('POST', `/v1/insights/remediations/${resize.id}/reject`, { body: { note: 'too big' } })).json()) as { status: string; result: Record<string, unknown> }
    expect(back).toMatchObject({ status: 'reverted', result: { revert: { effect: { memoryMb: { from: 1024, to: 512 }, check: { ok: true } } } } })
    expect(limits().memoryMb).toBe(512)
    expect((await audit('insights.remediation.rollback'))[0]).toMatchObject({ outcome: 'ok', data: { kind: 'resize' } })
  })

  it('a revert whose check fails is refused and stays applied', async () => {
    const { runtime, sbx, run, audit } = await plane()
    runtime.statsOverride.set(sbx.id, { memoryPeakBytes: 500 * MiB })
    const resize = (await run('r1', 'c1', 'Killed')).remediations.find((r) => r.kind === 'resize')!
    // The cgroup keeps reporting the raised limit: the rollback did not take effect.
    runtime.statsOverride.set(sbx.id, { memoryLimitBytes: 1024 * MiB })
    const res = await tp.call('POST', `/v1/insights/remediations/${resize.id}/reject`, { body: {} })
    expect(res.status).toBe(409)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/cgroup memoryMb is not 512/)
    expect((await tp.svc.insights.listRemediations(p, { status: 'applied', kind: 'resize', limit: 10 })).items.map((r) => r.id)).toEqual([resize.id])
    expect((await audit('insights.remediation.rollback'))[0]).toMatchObject({ outcome: 'failed' })
  })

  it('the final figures of a destroyed sandbox are joined to a run that finishes after it', async () => {
    const { runtime, sbx, audit: _a } = await plane()
    runtime.statsOverride.set(sbx.id, { cpuSeconds: 12.5, memoryPeakBytes: 100 * MiB, pidsLimitHits: 2 })
    await tp.svc.insights.createRun(p, { id: 'r1', commit: 'c1', branch: 'main', attempt: 1, variant: {}, infra: { sandboxId: sbx.id } })
    await tp.svc.insights.ingestJunit(p, 'r1', Buffer.from(xml('fork: Resource temporarily unavailable')), { name: 'report.xml' })
    expect((await tp.call('DELETE', `/v1/sandboxes/${sbx.id}`)).status).toBeLessThan(300)
    const fin = await tp.svc.insights.finishRun(p, 'r1')
    expect(fin.run.infra).toMatchObject({ cpuSeconds: 12.5, pidsLimitHits: 2, figuresFrom: sbx.id })
    const triage = await tp.svc.insights.triage(p, 'r1')
    expect(triage.failures[0]!.evidence.map((e) => e.detail)).toContain('pids-starved: the pids limit refused 2 fork(s)')
  })

  it("a run's sandboxes are also the ones created by calls naming it (CallMeta runId in the audit log)", async () => {
    const runtime = new FakeRuntime()
    tp = await testPlane(runtime)
    const made = (await (await tp.call('POST', '/v1/sandboxes', { body: {}, headers: { 'x-tidepool-meta': JSON.stringify({ runId: 'agent-7' }) } })).json()) as { id: string }
    runtime.statsOverride.set(made.id, { memoryPeakBytes: 500 * MiB, cpuSeconds: 3 })
    await tp.svc.insights.createRun(p, { id: 'agent-7', commit: 'c1', branch: 'main', attempt: 1, variant: {} })
    await tp.svc.insights.ingestJunit(p, 'agent-7', Buffer.from(xml('Killed')), { name: 'report.xml' })
    const fin = await tp.svc.insights.finishRun(p, 'agent-7')
    expect(fin.run.infra).toMatchObject({ cpuSeconds: 3, memoryPeakBytes: 500 * MiB, figuresFrom: `${made.id} (live)` })
  })

  it('an applied rerun is announced on the event stream and listed pending until a run of the requested attempt answers it', async () => {
    const { run } = await plane()
    const seen: SandboxEvent[] = []
    tp.svc.events.subscribe((e) => void (e.kind === 'insights.rerun_requested' && seen.push(e)))
    // A known-flaky test first, so the red run's only failure is a known flake and a rerun is proposed.
    for (let i = 0; i < 9; i++) {
      await run(`f${i}`, `k${i}`, i % 4 === 1 ? 'Timeout waiting' : undefined)
      if (i % 4 === 1) await run(`f${i}b`, `k${i}`, undefined, 2)
    }
    const red = await run('red', 'c9', 'Timeout waiting')
    const rerun = red.remediations.find((r) => r.kind === 'rerun')
    expect(rerun).toMatchObject({ status: 'applied' })
    expect(seen.map((e) => [e.sandboxId, e.data.remediationId, e.data.attempt])).toContainEqual(['red', rerun!.id, 2])
    // An earlier flaky run's request was answered by its attempt 2 already: only the red run's is pending.
    const pending = (await (await tp.call('GET', '/v1/insights/rerun-requests')).json()) as { items: { remediationId: string; commit: string }[] }
    expect(pending.items).toEqual([expect.objectContaining({ remediationId: rerun!.id, commit: 'c9', runId: 'red', attempt: 2, tests: [expect.any(String)] })])
    await run('red-2', 'c9', undefined, 2)
    expect(((await (await tp.call('GET', '/v1/insights/rerun-requests')).json()) as { items: unknown[] }).items).toEqual([])
  })
})
