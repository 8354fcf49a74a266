/** @module bench/run — `npm run bench [-- --only <name>]`: runs benchmarks, writes bench/results/<name>.json. */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { BenchResult } from './result.js'

const benches: Record<string, () => Promise<{ run(): Promise<BenchResult> }>> = {
  sandbox: () => import('./sandbox.js'),
  insights: () => import('./insights.js'),
  flaky: () => import('./flaky.js'),
  data: () => import('./data.js'),
  snapshot: () => import('./snapshot.js'),
  templates: () => import('./templates.js'),
  mcp: () => import('./mcp.js'),
  'network-setup': () => import('./network-setup.js'),
  network: () => import('./network.js'),
  ports: () => import('./ports.js'),
  router: () => import('./router.js'),
  workflows: () => import('./workflows.js'),
  policy: () => import('./policy.js'),
  'python-sdk': () => import('./python-sdk.js'),
  peers: () => import('./peers.js'),
  e2b: () => import('./e2b.js'),
  isolation: () => import('./isolation.js'),
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { only: { type: 'string', multiple: true }, out: { type: 'string' } } })
  const names = values.only?.length ? values.only : Object.keys(benches)
  const unknown = names.filter((n) => !benches[n])
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; available: ${Object.keys(benches).join(', ')}`)
  const outDir = resolve(values.out ?? join(process.env.INIT_CWD ?? process.cwd(), 'bench', 'results'))
  mkdirSync(outDir, { recursive: true })
  let failed = 0
  for (const name of names) {
    process.stderr.write(`\n== bench ${name}\n`)
    try {
      const result = await (await benches[name]!()).run()
      const file = join(outDir, `${name}.json`)
      writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`)
      for (const m of result.metrics) {
        process.stderr.write(
          `  ${m.name.padEnd(44)} p50 ${String(m.p50).padStart(10)} ${m.unit.padEnd(10)} p99 ${String(m.p99).padStart(10)} p99.9 ${String(m.p999).padStart(10)}  n=${m.n}${m.target ? `  target ${m.target}` : ''}${m.peer ? `  (${m.peer.name} p50 ${m.peer.p50})` : ''}\n`,
        )
      }
      process.stderr.write(`  → ${file}\n`)
    } catch (err) {
      failed++
      process.stderr.write(`  bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`)
    }
  }
  process.exitCode = failed ? 1 : 0
}

void main()
