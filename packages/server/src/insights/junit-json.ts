/**
 * @module insights/junit-json — Jest's own JSON summary (`jest --json --outputFile=…`), read as a report: unlike
 * jest-junit it tells how often each test ran (`invocations`, with `jest.retryTimes`), so retries become attempts.
 */
import type { FileProblem } from '@tidepool/sdk'
import { cleanText } from './clean.js'
import { foldCases, type FailureRec, type ParsedCase, type RawCase } from './junit-fold.js'

interface JestAssertion {
  ancestorTitles?: unknown
  title?: unknown
  status?: unknown
  duration?: unknown
  failureMessages?: unknown
  invocations?: unknown
  retryReasons?: unknown
}

const maxInvocations = 100

/** True when the text looks like Jest's JSON summary (an object with `testResults`). */
export function looksLikeJestJson(text: string): boolean {
  let i = 0
  while (i < text.length && i < 4096 && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t' || text[i] === '\ufeff')) i++
  return text[i] === '{' && text.slice(i, i + 4096).includes('"num')
}

/** Parses Jest's JSON summary into cases (framework `jest`). Problems are returned, never thrown. */
export function parseJestJson(text: string, file: string, root: string | undefined, cap: number): { cases: ParsedCase[]; errors: FileProblem[]; warnings: FileProblem[] } {
  const errors: FileProblem[] = []
  const warnings: FileProblem[] = []
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (err) {
    return { cases: [], errors: [{ file, kind: 'malformed', message: `not valid JSON: ${(err as Error).message}` }], warnings }
  }
  const results = isObject(doc) && Array.isArray(doc.testResults) ? doc.testResults : undefined
  if (!results) return { cases: [], errors: [{ file, kind: 'not_junit', message: 'a JSON file without testResults: expected Jest --json output or JUnit XML' }], warnings }
  const raw: RawCase[] = []
  for (const suite of results) {
    if (!isObject(suite) || !Array.isArray(suite.assertionResults)) continue
    const path = typeof suite.name === 'string' ? suite.name : ''
    for (const a of suite.assertionResults as JestAssertion[]) {
      if (!isObject(a) || typeof a.title !== 'string') continue
      const titles = Array.isArray(a.ancestorTitles) ? a.ancestorTitles.filter((t): t is string => typeof t === 'string') : []
      const runs = Math.min(maxInvocations, Math.max(1, typeof a.invocations === 'number' && Number.isInteger(a.invocations) ? a.invocations : 1))
      const messages = Array.isArray(a.failureMessages) ? a.failureMessages.filter((m): m is string => typeof m === 'string') : []
      const reasons = Array.isArray(a.retryReasons) ? a.retryReasons.filter((m): m is string => typeof m === 'string') : []
      const rec = (kind: FailureRec['kind'], m: string | undefined): FailureRec => {
        const body = cleanText((m ?? '').slice(0, cap))
        const first = body.split('\n', 1)[0] ?? ''
        return { kind, type: '', message: first, text: body }
      }
      const recs: FailureRec[] = []
      const skipped = a.status === 'pending' || a.status === 'skipped' || a.status === 'todo' || a.status === 'disabled'
      if (a.status === 'failed') {
        recs.push(rec('failure', messages[0]))
        for (let i = 1; i < runs; i++) recs.push(rec('rerun', reasons[i - 1] ?? messages[0]))
      } else if (!skipped) {
        for (let i = 1; i < runs; i++) recs.push(rec('flaky', reasons[i - 1]))
      }
      raw.push({
        classname: titles.join(' › '),
        name: a.title,
        file: path,
        time: typeof a.duration === 'number' && a.duration >= 0 ? String(a.duration / 1000) : undefined,
        suiteName: '',
        suiteFile: path,
        hostname: '',
        recs,
        skipped,
      })
    }
  }
  const cases = foldCases(raw, 'jest', root, cap, file, warnings)
  if (cases.length === 0) warnings.push({ file, kind: 'empty', message: 'the report has no test cases' })
  return { cases, errors, warnings }
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}
