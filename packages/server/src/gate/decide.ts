/**
 * @module gate/decide — the verdict of a rehearsal (pure): pass | fail | inconclusive from the evidence,
 * the proposal's stated expectations and the configured thresholds. No evidence never passes.
 */
import type { Classification } from './classify.js'

export interface EvidenceFacts {
  error?: { message: string; code?: string; statement?: number } | undefined
  tables: { table: string; inserted: number; updated: number; deleted: number }[]
  rowsChanged: number
  droppedWithData: string[]
  artifactMs: number
  /** The mirror's schema is not the target's (the rehearsal ran on another shape). */
  mirrorDrift: string[]
}

export interface Expectations {
  maxRowsChanged?: number | undefined
  tables?: string[] | undefined
  destructive: boolean
  heavyLocks: boolean
}

export interface Thresholds {
  maxRowsChanged: number
  maxDurationMs: number
}

export type Verdict = 'pass' | 'fail' | 'inconclusive'

/** The verdict and every reason for it, in a stable order (fail reasons, then inconclusive ones). */
export function decide(plan: Classification, evidence: EvidenceFacts | undefined, expect: Expectations, limits: Thresholds): { verdict: Verdict; reasons: string[] } {
  if (!evidence) return { verdict: 'inconclusive', reasons: ['no evidence: the proposal was not rehearsed'] }
  const fail: string[] = []
  const unsure: string[] = []
  if (evidence.error) fail.push(`the artifact failed in the rehearsal${evidence.error.statement ? ` at statement ${evidence.error.statement}` : ''}: ${evidence.error.message}`)
  if (!expect.destructive) {
    for (const s of plan.statements) for (const why of s.destructive) fail.push(`destructive and not expected (expect.destructive): ${why}`)
    for (const d of evidence.droppedWithData) fail.push(`removed with data: ${d}`)
  }
  const maxRows = expect.maxRowsChanged ?? limits.maxRowsChanged
  if (evidence.rowsChanged > maxRows)
    fail.push(`${evidence.rowsChanged} rows changed, more than the ${maxRows} allowed (${expect.maxRowsChanged !== undefined ? 'expect.maxRowsChanged' : 'gate.maxRowsChanged'})`)
  if (expect.tables) {
    const allowed = new Set(expect.tables.map((t) => (t.includes('.') ? t : `public.${t}`)))
    for (const t of evidence.tables) if (!allowed.has(t.table)) fail.push(`rows of ${t.table} changed, which expect.tables does not name`)
  }
  if (!expect.heavyLocks) for (const s of plan.statements) for (const why of s.heavyLocks) unsure.push(`heavy lock not expected (expect.heavyLocks): ${why}`)
  if (evidence.artifactMs > limits.maxDurationMs) unsure.push(`the artifact ran ${Math.round(evidence.artifactMs)} ms, longer than gate.maxDurationMs (${limits.maxDurationMs})`)
  for (const d of evidence.mirrorDrift) unsure.push(`the mirror differs from the target (refresh the mirror): ${d}`)
  if (fail.length > 0) return { verdict: 'fail', reasons: [...fail, ...unsure] }
  if (unsure.length > 0) return { verdict: 'inconclusive', reasons: unsure }
  return { verdict: 'pass', reasons: [`${evidence.rowsChanged} rows changed in ${evidence.tables.length} tables, no error, nothing unexpected`] }
}
