/** The feedback loop's "snapshot on next failure", carried out by the sandbox service as main.ts wires it. */
import { afterEach, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'

let tp: TestPlane
afterEach(() => tp?.dispose())

type Case = { name: string; fail?: string }
const xml = (cases: Case[]) =>
  `<?xml version="1.0"?><testsuites><testsuite name="s">${cases
    .map((c) => (c.fail ? `<testcase classname="s" name="${c.name}" time="0.1"><failure message="${c.fail}">${c.fail}</failure></testcase>` : `<testcase classname="s" name="${c.name}" time="0.1"/>`))
    .join('')}</testsuite></testsuites>`
const healthy = Array.from({ length: 30 }, (_, i) => ({ name: `ok ${i}` }))

describe('snapshot_on_failure has an executor', () => {
  it("an armed flaky test's next failure snapshots the run's sandbox (as system:remediation) and arms its next failing exec", async () => {
    const runtime = new FakeRuntime((req) => (req.cmd[0] === 'false' ? { exitCode: 1 } : {}))
    tp = await testPlane(runtime, { insights: { remediation: { quarantineMinScore: 0.01 } } })
    const ins = tp.svc.insights
    const p = 'default'
    const run = async (id: string, commit: string, cases: Case[], extra: Record<string, unknown> = {}) => {
      tp.clock.advance(60_000)
      await ins.createRun(p, { id, commit, branch: 'main', attempt: 1, variant: { os: 'linux' }, ...extra })
      await ins.ingestJunit(p, id, Buffer.from(xml(cases)), { name: 'report.xml' })
    }
    await ins.putSettings(p, { mode: 'auto', quarantineOwner: 'team' })
    for (let i = 0; i < 9; i++) {
      await run(`r${i}`, `c${i}`, [...healthy, { name: 'flaky', ...(i % 4 === 1 ? { fail: 'Timeout waiting' } : {}) }])
      if (i % 4 === 1) await run(`r${i}b`, `c${i}`, [...healthy, { name: 'flaky' }], { attempt: 2 })
    }
    const sbx = (await (await tp.call('POST', '/v1/sandboxes', { body: { resources: { cpu: 0.1 } } })).json()) as { id: string }
    await run('red', 'c9', [...healthy, { name: 'flaky', fail: 'Timeout waiting' }], { infra: { sandboxId: sbx.id } })
    const armed = (await ins.finishRun(p, 'red')).remediations.find((r) => r.kind === 'snapshot_on_failure')
    expect(armed).toMatchObject({ status: 'applied' })
    await run('red2', 'c10', [...healthy, { name: 'flaky', fail: 'Timeout waiting' }], { infra: { sandboxId: sbx.id } })
    await ins.finishRun(p, 'red2')
    const snaps = ((await (await tp.call('GET', `/v1/snapshots?sandboxId=${sbx.id}`)).json()) as { items: { id: string; createdBy: string; labels: Record<string, string> }[] }).items
    expect(snaps).toHaveLength(1)
    expect(snaps[0]).toMatchObject({ createdBy: 'system:remediation', labels: { reason: 'insights_failure' } })
    const audit = ((await (await tp.call('GET', '/v1/audit?limit=1000')).json()) as { items: { action: string; actor: string; outcome: string }[] }).items
    expect(audit.find((a) => a.action === 'createSnapshot')).toMatchObject({ actor: 'system:remediation', outcome: 'ok' })
    const exec = (await (await tp.call('POST', `/v1/sandboxes/${sbx.id}/exec`, { body: { cmd: ['false'] } })).json()) as { snapshotId?: string }
    expect(exec.snapshotId).toMatch(/^snap_/)
  })
})
