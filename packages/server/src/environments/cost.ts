/**
 * @module environments/cost — what forking saves, as figures of one environment: the resources of the
 * forked services against a full copy of the environment, from declared resources and, where a service
 * runs in a sandbox, measured ones (cgroup memory now, CPU averaged since the sandbox started), and how
 * many of each the box holds next to the shared baseline.
 */
import type { Environment, OpOutput } from '@tidepool/sdk'

export type EnvironmentCostView = OpOutput<'getEnvironmentCost'>
type Usage = { cpu: number; memoryMb: number }
type PartialUsage = { cpu?: number | undefined; memoryMb?: number | undefined }

/** Measured usage of a sandbox, or undefined when it cannot be read (stopped, foreign, no runtime). */
export type Measure = (sandboxId: string) => Promise<Usage | undefined>

const round = (n: number) => Math.round(n * 1000) / 1000
const add = (a: Usage, b: Usage): Usage => ({ cpu: a.cpu + b.cpu, memoryMb: a.memoryMb + b.memoryMb })
const zero: Usage = { cpu: 0, memoryMb: 0 }

/** Per axis: the measured figure, else the declared one, else 0. */
function used(declared: PartialUsage | undefined, measured: Usage | undefined): Usage {
  return { cpu: measured?.cpu ?? declared?.cpu ?? 0, memoryMb: measured?.memoryMb ?? declared?.memoryMb ?? 0 }
}

/** How many `each` fit in `room` (the scarcer axis decides; an axis nothing uses does not limit). */
function fits(room: Usage, each: Usage): number {
  const by = [each.cpu > 0 ? room.cpu / each.cpu : Infinity, each.memoryMb > 0 ? room.memoryMb / each.memoryMb : Infinity]
  const n = Math.min(...by)
  return Number.isFinite(n) ? Math.max(0, Math.floor(n)) : 0
}

export async function environmentCost(env: Environment, measure: Measure, box: Usage): Promise<EnvironmentCostView> {
  const notes: string[] = []
  const services = await Promise.all(
    env.services.map(async (s) => {
      const measured = s.sandbox ? await measure(s.sandbox) : undefined
      if (s.sandbox && !measured) notes.push(`${s.name}: its sandbox ${s.sandbox} could not be measured (not running?); declared figures count`)
      if (!measured && !s.resources) notes.push(`${s.name}: no declared resources and nothing measured; counts as 0 (declare resources with the service)`)
      return { name: s.name, declared: s.resources, measured, used: used(s.resources, measured) }
    }),
  )
  const byName = new Map(services.map((s) => [s.name, s]))
  // What each fork costs: measured in its own sandbox, else what its service costs.
  const forkUse = await Promise.all(env.forks.map(async (f) => ({ key: f.routingKey, use: (f.sandbox ? await measure(f.sandbox) : undefined) ?? byName.get(f.service)?.used ?? zero })))
  const byKey = new Map<string, Usage>()
  const countByKey = new Map<string, number>()
  for (const f of forkUse) {
    byKey.set(f.key, add(byKey.get(f.key) ?? zero, f.use))
    countByKey.set(f.key, (countByKey.get(f.key) ?? 0) + 1)
  }
  let perFork: Usage
  if (byKey.size > 0) {
    const widest = [...countByKey.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0]
    perFork = byKey.get(widest)!
    notes.push(`one fork = route group ${widest} (${countByKey.get(widest)} of ${env.services.length} services forked)`)
  } else {
    perFork = services.map((s) => s.used).sort((a, b) => b.memoryMb - a.memoryMb || b.cpu - a.cpu)[0] ?? zero
    notes.push('no forks yet: one fork = the largest single service')
  }
  const fullCopy = services.reduce((acc, s) => add(acc, s.used), zero)
  // The baseline runs once either way; forks and copies share what is left of the box.
  const room = { cpu: Math.max(0, box.cpu - fullCopy.cpu), memoryMb: Math.max(0, box.memoryMb - fullCopy.memoryMb) }
  const axes = (['cpu', 'memoryMb'] as const).filter((a) => fullCopy[a] > 0)
  const saving = axes.length > 0 ? (1 - axes.reduce((acc, a) => acc + perFork[a] / fullCopy[a], 0) / axes.length) * 100 : 0
  return {
    environment: env.name,
    services: services.map((s) => ({
      service: s.name,
      forks: env.forks.filter((f) => f.service === s.name).length,
      ...(s.declared ? { declared: s.declared } : {}),
      ...(s.measured ? { measured: { cpu: round(s.measured.cpu), memoryMb: round(s.measured.memoryMb) } } : {}),
      used: { cpu: round(s.used.cpu), memoryMb: round(s.used.memoryMb) },
    })),
    fullCopy: { cpu: round(fullCopy.cpu), memoryMb: round(fullCopy.memoryMb) },
    perFork: { cpu: round(perFork.cpu), memoryMb: round(perFork.memoryMb) },
    savingPercent: Math.round(saving * 10) / 10,
    box: { cpu: box.cpu, memoryMb: Math.round(box.memoryMb) },
    concurrent: { fullCopies: fits(room, fullCopy), forks: fits(room, perFork) },
    notes,
  }
}
