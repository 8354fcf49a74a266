/**
 * The feedback loop's remediations decided by the same Cedar policy set as every API call: a control plane
 * (FakeRuntime, real HTTP app) whose policy file forbids automatic reruns keeps the rerun a suggestion, with
 * the policy gate naming the policy, while the other remediations of the same red run are still applied.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'
import { defaultPolicyText } from './default-policy.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-policy-plane-'))
const file = join(dir, 'no-auto-rerun.cedar')
let tp: TestPlane
const json = async (r: Response) => (await r.json()) as Record<string, any>

const report = (fail: boolean) =>
  `<testsuites><testsuite name="pay">${Array.from({ length: 20 }, (_, i) => `<testcase classname="pay" name="case ${i}" time="0.01"/>`).join('')}<testcase classname="pay" name="retries payment" time="0.2">${fail ? '<failure message="socket hang up">Error: socket hang up</failure>' : ''}</testcase></testsuite></testsuites>`

describe('remediations under the policy file', () => {
  beforeAll(async () => {
    writeFileSync(file, `${defaultPolicyText}\n@id("no-auto-rerun")\nforbid (principal, action == Action::"remediation:rerun", resource) when { context has auto && context.auto };\n`)
    tp = await testPlane(new FakeRuntime(), { policy: { files: [file] } })
  })
  afterAll(async () => {
    await tp?.dispose()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a forbidden automatic rerun stays a suggestion; the policy gate says which policy', async () => {
    await tp.call('PUT', '/v1/insights/settings', { body: { mode: 'auto' } })
    for (let i = 0; i < 8; i++) {
      const fail = i % 3 === 1
      await tp.call('POST', '/v1/runs', { body: { id: `m${i}`, commit: `c${i}`, branch: 'main' } })
      await tp.call('POST', `/v1/runs/m${i}/junit`, { raw: report(fail), headers: { 'content-type': 'application/xml' } })
      if (fail) {
        await tp.call('POST', '/v1/runs', { body: { id: `m${i}b`, commit: `c${i}`, branch: 'main', attempt: 2 } })
        await tp.call('POST', `/v1/runs/m${i}b/junit`, { raw: report(false), headers: { 'content-type': 'application/xml' } })
      }
    }
    await tp.call('POST', '/v1/runs', { body: { id: 'red', commit: 'c9', branch: 'main' } })
    await tp.call('POST', '/v1/runs/red/junit', { raw: report(true), headers: { 'content-type': 'application/xml' } })
    const fin = await json(await tp.call('POST', '/v1/runs/red/finish', { body: {} }))
    const byKind = new Map(fin.remediations.map((r: { kind: string }) => [r.kind, r] as const)) as Map<string, { status: string; gates: { gate: string; pass: boolean; reason: string }[] }>
    const rerun = byKind.get('rerun')!
    expect(rerun.status).not.toBe('applied')
    expect(rerun.gates.find((g) => g.gate === 'policy')).toEqual({ gate: 'policy', pass: false, reason: 'remediation:rerun is forbidden by policy no-auto-rerun' })
    // The same run's other remediation is the policy's to allow, and it does.
    expect(byKind.get('snapshot_on_failure')).toMatchObject({ status: 'applied' })
    expect(byKind.get('snapshot_on_failure')!.gates.find((g) => g.gate === 'policy')).toMatchObject({ pass: true })
  })
})
