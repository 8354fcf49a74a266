/** @module insights/clusters — tests that fail together (co-failing clusters): one likely cause, reported once. */
import { createHash } from 'node:crypto'

export interface ClusterParams {
  minCoFailures: number
  minJaccard: number
  /** Runs with more failing tests than this are ignored (they say nothing about pairs). */
  maxFailuresPerRun?: number
}

export interface FoundCluster {
  id: string
  tests: string[]
  coFailures: number
  jaccard: number
  signature?: string | undefined
}

/**
 * `failing`: per test, the runs (infrastructure suspects already removed) it failed in, with the signature.
 * Links two tests when they failed together at least minCoFailures times with a Jaccard overlap ≥ minJaccard;
 * clusters are the connected components (union–find).
 */
export function findClusters(failing: ReadonlyMap<string, ReadonlyMap<string, string>>, p: ClusterParams): FoundCluster[] {
  const maxPerRun = p.maxFailuresPerRun ?? 60
  const byRun = new Map<string, string[]>()
  for (const [test, runs] of failing) {
    if (runs.size < p.minCoFailures) continue
    for (const run of runs.keys()) {
      let l = byRun.get(run)
      if (!l) byRun.set(run, (l = []))
      l.push(test)
    }
  }
  const co = new Map<string, number>()
  for (const tests of byRun.values()) {
    if (tests.length < 2 || tests.length > maxPerRun) continue
    tests.sort()
    for (let i = 0; i < tests.length; i++) {
      for (let j = i + 1; j < tests.length; j++) {
        const key = `${tests[i]}\u0000${tests[j]}`
        co.set(key, (co.get(key) ?? 0) + 1)
      }
    }
  }
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    let r = x
    while (parent.get(r) !== r) r = parent.get(r)!
    let c = x
    while (c !== r) {
      const next = parent.get(c)!
      parent.set(c, r)
      c = next
    }
    return r
  }
  const edgeJ = new Map<string, number>()
  for (const [key, c] of co) {
    if (c < p.minCoFailures) continue
    const [a, b] = key.split('\u0000') as [string, string]
    const na = failing.get(a)!.size
    const nb = failing.get(b)!.size
    const j = c / (na + nb - c)
    if (j < p.minJaccard) continue
    if (!parent.has(a)) parent.set(a, a)
    if (!parent.has(b)) parent.set(b, b)
    const ra = find(a)
    const rb = find(b)
    if (ra !== rb) parent.set(ra < rb ? rb : ra, ra < rb ? ra : rb)
    edgeJ.set(key, j)
  }
  const members = new Map<string, string[]>()
  for (const t of parent.keys()) {
    const r = find(t)
    let l = members.get(r)
    if (!l) members.set(r, (l = []))
    l.push(t)
  }
  const out: FoundCluster[] = []
  for (const tests of members.values()) {
    if (tests.length < 2) continue
    tests.sort()
    const set = new Set(tests)
    let minJ = 1
    for (const [key, j] of edgeJ) {
      const [a, b] = key.split('\u0000') as [string, string]
      if (set.has(a) && set.has(b)) minJ = Math.min(minJ, j)
    }
    const runs = new Map<string, number>()
    const sigs = new Map<string, number>()
    for (const t of tests)
      for (const [run, sig] of failing.get(t)!) {
        runs.set(run, (runs.get(run) ?? 0) + 1)
        sigs.set(sig, (sigs.get(sig) ?? 0) + 1)
      }
    let coFailures = 0
    for (const c of runs.values()) if (c >= 2) coFailures++
    let signature: string | undefined
    let best = 0
    for (const [s, c] of sigs) if (c > best) [signature, best] = [s, c]
    const id = `c_${createHash('sha256').update(tests.join('\n')).digest('hex').slice(0, 10)}`
    out.push({ id, tests, coFailures, jaccard: Math.round(minJ * 1000) / 1000, signature })
  }
  return out.sort((a, b) => b.tests.length - a.tests.length || a.id.localeCompare(b.id))
}
