#!/usr/bin/env node
// Micro-benchmark of the local runtime alone (no API): create / exec `true` / destroy latency and the
// memory an idle sandbox costs. Needs root and a build (`npm run build`).
//
//   node bench/local-runtime.mjs [--samples 60] [--execs 300] [--idle 50,200,500] [--module <local-runtime.js>]
//
// Writes bench/results/local-runtime.json in the shape every bench result has (DESIGN §6).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const here = dirname(fileURLToPath(import.meta.url))
const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '60' },
    execs: { type: 'string', default: '300' },
    idle: { type: 'string', default: '50,200,500' },
    module: { type: 'string', default: join(here, '..', 'packages', 'server', 'dist', 'runtime', 'local', 'local-runtime.js') },
    out: { type: 'string', default: join(here, 'results') },
  },
})
const samples = Math.min(1000, Number(values.samples))
const execs = Math.min(5000, Number(values.execs))
const idleSteps = values.idle.split(',').map(Number).filter((n) => n > 0 && n <= 2000).sort((a, b) => a - b)

const { LocalRuntime } = await import(pathToFileURL(resolve(values.module)).href)
const cgroupName = `tidepool-bench-rt-${process.pid}`
const dataDir = mkdtempSync(join(tmpdir(), 'tidepool-bench-rt-'))
const rt = new LocalRuntime({ dataDir, cgroupName })
const env = { PATH: '/usr/bin:/bin' }
const limits = { cpu: 0.25, memoryMb: 64, pids: 64 }
let seq = 0
const spec = () => ({ id: `sbx_bench${seq++}`, template: { name: 'base', rootfs: 'host' }, resources: limits, denyRead: [] })

function metric(name, unit, xs, extra = {}) {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]
  const r = (x) => Math.round(x * 1000) / 1000
  return { name, unit, n: s.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), ...extra }
}
const time = async (fn) => {
  const t = performance.now()
  await fn()
  return performance.now() - t
}
async function execTrue(ref) {
  const h = rt.exec(ref, { cmd: ['true'], env, user: 'user', timeoutMs: 10_000 })
  h.stdin.end()
  h.stdout.resume()
  h.stderr.resume()
  const end = (s) => new Promise((r) => s.once('close', r))
  const [exit] = await Promise.all([h.wait(), end(h.stdout), end(h.stderr)])
  if (exit.exitCode !== 0) throw new Error(`true exited ${exit.exitCode}`)
}
const meminfo = () => Object.fromEntries(readFileSync('/proc/meminfo', 'utf8').split('\n').filter(Boolean).map((l) => [l.split(':')[0], Number(l.split(/\s+/)[1]) * 1024]))
const parentUsage = () => {
  for (const f of [`/sys/fs/cgroup/memory/${cgroupName}/memory.usage_in_bytes`, `/sys/fs/cgroup/${cgroupName}/memory.current`]) {
    try {
      return Number(readFileSync(f, 'utf8'))
    } catch {}
  }
  return Number.NaN
}

const metrics = []
const live = []
try {
  // Warm-up: template skeleton, page cache, JIT.
  for (let i = 0; i < 5; i++) {
    const ref = await rt.start(spec())
    await execTrue(ref)
    await rt.destroy(ref.id, ref)
  }
  // Destroyed network namespaces are cleaned up asynchronously by the kernel: let that settle between phases.
  const settle = () => new Promise((r) => setTimeout(r, 2000))
  await settle()

  const ref = await rt.start(spec())
  const exec = []
  for (let i = 0; i < 20; i++) await execTrue(ref)
  for (let i = 0; i < execs; i++) exec.push(await time(() => execTrue(ref)))
  await rt.destroy(ref.id, ref)
  metrics.push(metric('exec true (runtime only)', 'ms', exec, { target: 'p50 <= 4 ms' }))
  await settle()

  const create = []
  const firstExec = []
  const destroy = []
  for (let i = 0; i < samples; i++) {
    let ref
    create.push(await time(async () => (ref = await rt.start(spec()))))
    firstExec.push(await time(() => execTrue(ref)))
    destroy.push(await time(() => rt.destroy(ref.id, ref)))
  }
  metrics.push(metric('create (ready for exec)', 'ms', create, { target: 'p50 <= 25 ms' }))
  metrics.push(metric('first exec true', 'ms', firstExec))
  metrics.push(metric('destroy', 'ms', destroy))
  await settle()

  // Idle memory: sandboxes that ran one command and sit idle.
  const before = meminfo()
  for (const step of idleSteps) {
    while (live.length < step) {
      const r = await rt.start(spec())
      await execTrue(r)
      live.push(r)
    }
    await new Promise((r) => setTimeout(r, 1000))
    const now = meminfo()
    const cg = parentUsage() / live.length
    const slab = (now.Slab - before.Slab) / live.length
    const used = (before.MemAvailable - now.MemAvailable) / live.length
    const mib = (x) => Math.round((x / 1048576) * 1000) / 1000
    metrics.push(metric(`idle memory per sandbox (cgroup) @${step}`, 'MiB', [mib(cg)], { target: '<= 2 MiB' }))
    metrics.push(metric(`idle slab per sandbox (host) @${step}`, 'MiB', [mib(slab)]))
    metrics.push(metric(`idle MemAvailable drop per sandbox @${step}`, 'MiB', [mib(used)]))
  }
} finally {
  const destroyAll = []
  for (const r of live) destroyAll.push(await time(() => rt.destroy(r.id, r)))
  if (destroyAll.length) metrics.push(metric(`destroy with ${destroyAll.length} alive`, 'ms', destroyAll))
  await rt.removeCgroupParents()
  rmSync(dataDir, { recursive: true, force: true })
}

const result = {
  name: 'local-runtime',
  at: new Date().toISOString(),
  machine: { cpus: cpus().length, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release(), node: process.version },
  metrics,
}
mkdirSync(values.out, { recursive: true })
writeFileSync(join(values.out, 'local-runtime.json'), `${JSON.stringify(result, null, 2)}\n`)
for (const m of metrics) console.error(`${m.name.padEnd(48)} p50 ${String(m.p50).padStart(9)} ${m.unit.padEnd(4)} p99 ${String(m.p99).padStart(9)}  n=${m.n}${m.target ? `  target ${m.target}` : ''}`)
