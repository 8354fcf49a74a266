/** Reverting an applied resize puts the sandbox back at its previous size (it used to report `reverted` and leave it resized). */
import { afterEach, describe, expect, it } from 'vitest'
import { RecordingActions, sandboxRemediationActions, type RemediationActions, type SandboxPort } from './actions.js'
import { testInsights, type TestInsights } from './testing.js'

let t: TestInsights | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

const sandboxId = 'sbx_abcdef123456'
const cases = (fail: boolean) =>
  Array.from({ length: 30 }, (_, i) => `<testcase classname="cart" name="ok ${i}" time="0.1"/>`).join('') +
  (fail ? '<testcase classname="cart" name="db" time="0.1"><failure message="duplicate key value violates unique constraint">x</failure></testcase>' : '')

/** A sandbox whose size the port really changes. */
function livePort() {
  const resources = { cpu: 1, memoryMb: 512, pids: 256 }
  const port: SandboxPort = {
    get: async (_p, id) => (id === sandboxId ? { state: 'running', resources: { ...resources } } : undefined),
    resize: async (_p, _id, r) => void Object.assign(resources, r),
  }
  return { port, resources }
}

async function autoResize(actions: RemediationActions) {
  t = await testInsights({ actions })
  await t.svc.putSettings('p', { mode: 'auto' })
  t.clock.advance(60_000)
  await t.svc.createRun('p', { id: 'r1', commit: 'c1', branch: 'main', attempt: 1, variant: {}, infra: { sandboxId, memoryPct: 98 } })
  await t.svc.ingestJunit('p', 'r1', Buffer.from(`<testsuite name="src/cart.test.ts">${cases(true)}</testsuite>`), { name: 'report.xml' })
  const fin = await t.svc.finishRun('p', 'r1')
  const resize = fin.remediations.find((r) => r.kind === 'resize')
  expect(resize).toMatchObject({ status: 'applied' })
  return resize!
}

describe('rejecting an applied resize', () => {
  it('resizes the sandbox back to its previous size, then reports reverted', async () => {
    const { port, resources } = livePort()
    const resize = await autoResize(sandboxRemediationActions(port))
    expect(resources.memoryMb).toBe(1024)
    const reverted = await t!.svc.rejectRemediation('p', resize.id, 'tok_2 (bob)', 'too big')
    expect(reverted.status).toBe('reverted')
    expect(resources.memoryMb).toBe(512)
    expect(reverted.result).toMatchObject({ reverted: true, revert: { effect: { memoryMb: { from: 1024, to: 512 } } } })
  })

  it('is refused with conflict, and stays applied, when nothing can resize it back', async () => {
    const actions = new RecordingActions(['resize'], () => ({ ok: true, detail: 'resize ok', effect: { memoryMb: { from: 512, to: 1024 }, factor: 2 } }))
    const resize = await autoResize(actions)
    await expect(t!.svc.rejectRemediation('p', resize.id, 'tok_2 (bob)')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('cannot be reverted') })
    expect((await t!.svc.listRemediations('p', { status: 'applied', limit: 10 })).items.map((r) => r.id)).toContain(resize.id)
  })
})
