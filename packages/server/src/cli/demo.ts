/** @module cli/demo — a short walk through a sandbox's life, through the public SDK over real HTTP. */
import { createClient, Sandbox } from '@tidepool/sdk'
import type { CliIo } from './command.js'

export async function runDemo(baseUrl: string, token: string, io: CliIo): Promise<void> {
  const conn = { baseUrl, token }
  const t0 = performance.now()
  const sbx = await Sandbox.create({ ...conn, timeoutMs: 120_000, metadata: { purpose: 'demo' } })
  io.info(`\n== demo: created ${sbx.sandboxId} in ${(performance.now() - t0).toFixed(1)} ms`)
  const r = await sbx.commands.run('uname -a && id && ls /')
  io.info(`$ uname -a && id && ls /   (exit ${r.exitCode}, ${r.durationMs} ms)\n${r.stdout.trimEnd()}`)
  await sbx.files.write('/workspace/hello.txt', 'hello from the host\n')
  const back = await sbx.commands.run('cat /workspace/hello.txt && wc -c /workspace/hello.txt')
  io.info(`$ cat /workspace/hello.txt\n${back.stdout.trimEnd()}`)
  await sbx.pause()
  io.info(`paused: ${(await sbx.getInfo()).state}`)
  await sbx.resume()
  const after = await sbx.files.read('/workspace/hello.txt')
  io.info(`resumed: ${(await sbx.getInfo()).state}; file still there: ${JSON.stringify(after)}`)
  await sbx.kill()
  io.info(`destroyed ${sbx.sandboxId}; the audit log recorded every step (tidepool audit ls / audit verify)`)
  await feedbackLoop(baseUrl, token, io)
  io.info('== demo done')
}

/** The feedback loop in miniature: a CI run uploads JUnit, tidepool triages the red test. */
async function feedbackLoop(baseUrl: string, token: string, io: CliIo): Promise<void> {
  const api = createClient({ baseUrl, token })
  const run = `demo-${Date.now()}`
  await api.createRun({ id: run, commit: 'c0ffee1', branch: 'feature/demo', pr: '42', variant: { os: 'linux' } })
  const junit = `<?xml version="1.0"?>
<testsuites><testsuite name="cart" tests="2" failures="1">
  <testcase classname="cart" name="adds an item" file="test/cart.test.ts" time="0.012"/>
  <testcase classname="cart" name="applies a coupon" file="test/cart.test.ts" time="0.031">
    <failure message="expected 90 to be 81">AssertionError: expected 90 to be 81
    at test/cart.test.ts:42:17</failure>
  </testcase>
</testsuite></testsuites>`
  const ingested = await api.ingestJunit({ id: run, body: junit, name: 'junit.xml' })
  await api.finishRun({ id: run })
  const triage = await api.getRunTriage({ id: run })
  io.info(`\n== feedback loop: run ${run} ingested ${ingested.tests} tests; triage (tidepool triage --run ${run}):\n${triage.markdown.trim().split('\n').slice(0, 12).join('\n')}`)
}
