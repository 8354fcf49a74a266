/** @module cli/demo — a short walk through a sandbox's life, through the public SDK over real HTTP. */
import { Sandbox } from '@tidepool/sdk'
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
  io.info(`destroyed ${sbx.sandboxId}; the audit log recorded every step (tidepool audit ls / audit verify)\n== demo done`)
}
