/** @module bench/result — the one shape of every benchmark result file (DESIGN §6). */
import { cpus, release, totalmem } from 'node:os'

export interface Metric {
  name: string
  unit: string
  n: number
  p50: number
  p90: number
  p99: number
  /** The 99.9th percentile (nearest-rank: the maximum below 1000 samples). */
  p999: number
  target?: string
  peer?: { name: string; p50: number }
}

export interface BenchResult {
  name: string
  at: string
  machine: { cpus: number; memGiB: number; kernel: string; node: string }
  metrics: Metric[]
  /** Peers or parts that could not run on this host, with why (peers bench). */
  skipped?: { name: string; reason: string }[]
  /** How a figure was measured where the name cannot say it. */
  notes?: string[]
}

export function machine(): BenchResult['machine'] {
  return { cpus: cpus().length, memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, kernel: release(), node: process.version }
}

/** Percentiles of samples (nearest-rank), rounded to 3 decimals. */
export function metric(name: string, unit: string, samples: number[], extra: Partial<Metric> = {}): Metric {
  const s = [...samples].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ?? Number.NaN
  const r = (x: number) => Math.round(x * 1000) / 1000
  return { name, unit, n: s.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), p999: r(at(0.999)), ...extra }
}

/** A single measured figure (n = 1) in the same shape. */
export function figure(name: string, unit: string, value: number, extra: Partial<Metric> = {}): Metric {
  return metric(name, unit, [value], extra)
}
