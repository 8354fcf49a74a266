/** @module cli/demo — a short walk through a sandbox's life, through the public SDK over real HTTP. */
import { createClient, Sandbox, Snapshot, Template } from '@tidepool/sdk'
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
  const t1 = performance.now()
  const once = await Sandbox.run('echo "one command in $(hostname)"', conn)
  io.info(
    `\n== one-shot: Sandbox.run (tidepool run -- …) in ${(performance.now() - t1).toFixed(1)} ms: ${once.stdout.trim()} (exit ${once.exitCode}); its sandbox ${once.sandboxId} is destroyed after`,
  )
  await templatesAndSnapshots(conn, io)
  await feedbackLoop(baseUrl, token, io)
  io.info('== demo done')
}

/** A template built once (a rebuild is a cache hit), sandboxes from it, a snapshot, a fork of it, a reset. */
async function templatesAndSnapshots(conn: { baseUrl: string; token: string }, io: CliIo): Promise<void> {
  const ms = (t0: number) => `${(performance.now() - t0).toFixed(1)} ms`
  const spec = {
    name: 'demo-app',
    steps: [{ copy: { path: '/opt/app/greeting.txt', content: 'hello from a template layer\n' } }, { run: 'seq 1 3 > /opt/app/numbers.txt' }],
  }
  let t0 = performance.now()
  const tpl = await Template.build(spec, conn)
  io.info(`\n== templates: built ${tpl.name} (${tpl.layers.length} layers, ${tpl.digest.slice(0, 19)}…) in ${ms(t0)}`)
  t0 = performance.now()
  await Template.build(spec, conn)
  io.info(`rebuilt unchanged: a cache hit in ${ms(t0)}`)
  t0 = performance.now()
  const sbx = await Sandbox.create('demo-app', { ...conn, timeoutMs: 120_000 })
  io.info(`created ${sbx.sandboxId} from demo-app in ${ms(t0)}; it has the layer's files: ${(await sbx.files.read('/opt/app/greeting.txt')).trim()}`)
  await sbx.files.write('/workspace/progress.txt', 'step 1 done\n')
  t0 = performance.now()
  const snap = await sbx.createSnapshot({ labels: { step: '1' } })
  io.info(`snapshot ${snap.id} in ${ms(t0)}`)
  t0 = performance.now()
  const forks = await sbx.fork({ count: 2 })
  io.info(
    `forked into ${forks.map((f) => f.sandboxId).join(', ')} in ${ms(t0)}; each has /workspace/progress.txt: ${(await Promise.all(forks.map(async (f) => (await f.files.read('/workspace/progress.txt')).trim()))).join(' | ')}`,
  )
  t0 = performance.now()
  await sbx.reset()
  io.info(
    `reset ${sbx.sandboxId} to its start in ${ms(t0)}: progress.txt ${(await sbx.files.exists('/workspace/progress.txt')) ? 'still there' : 'gone'}, greeting.txt ${(await sbx.files.exists('/opt/app/greeting.txt')) ? 'kept' : 'gone'}`,
  )
  for (const s of [sbx, ...forks]) await s.kill()
  await Snapshot.delete(snap.id, conn)
  await Template.delete('demo-app', conn)
  io.info('destroyed the sandboxes, the snapshot and the template (the fork point goes with the reaper once unused)')
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
