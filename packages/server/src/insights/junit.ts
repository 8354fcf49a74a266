/** @module insights/junit — lenient JUnit XML reader for the common producers (Surefire, pytest, Jest, Vitest, Mocha, Playwright, gotestsum, dotnet). */
import type { FileProblem } from '@tidepool/sdk'
import { capText, cleanLine, cleanText } from './clean.js'
import { normalizePath, normalizeSuite, testIdOf } from './identity.js'
import { decodeXmlBytes, scanXml, type XmlHandler } from './xml.js'

export type Framework = 'surefire' | 'pytest' | 'jest' | 'vitest' | 'mocha' | 'playwright' | 'gotestsum' | 'dotnet' | 'junit'
export type Outcome = 'pass' | 'fail' | 'skip'

/** One test of one report, retries inside the run already folded in. */
export interface ParsedCase {
  testId: string
  file: string
  suite: string
  name: string
  outcome: Outcome
  /** Attempts inside the run (1 + in-run retries). */
  attempts: number
  /** Of them, failed. */
  fails: number
  durationMs?: number
  /** First failure: type, message and (capped) trace. */
  failure?: { type: string; message: string; text: string }
}

export interface ParsedReport {
  framework: Framework
  cases: ParsedCase[]
  errors: FileProblem[]
  warnings: FileProblem[]
}

export interface ParseOptions {
  /** Name of the file, for problems. */
  file: string
  framework?: Framework
  root?: string
  messageMaxChars?: number
}

interface FailureRec {
  kind: 'failure' | 'error' | 'flaky' | 'rerun' | 'pyrerun'
  type: string
  message: string
  text: string
}

interface RawCase {
  classname: string
  name: string
  file: string
  time: string | undefined
  suiteName: string
  suiteFile: string
  hostname: string
  recs: FailureRec[]
  skipped: boolean
}

// Null-prototype: an element named <constructor> or <__proto__> is no failure tag (it would hide the failure inside it).
const failureTags: Record<string, FailureRec['kind']> = Object.assign(Object.create(null) as Record<string, FailureRec['kind']>, {
  failure: 'failure',
  error: 'error',
  flakyFailure: 'flaky',
  flakyError: 'flaky',
  rerunFailure: 'rerun',
  rerunError: 'rerun',
  rerun: 'pyrerun',
} as const)

class JunitHandler implements XmlHandler {
  wantText = false
  rootName: string | undefined
  rootAttrs: Record<string, string> = {}
  suites: Record<string, string>[] = []
  firstSuite: Record<string, string> | undefined
  properties = new Set<string>()
  cases: RawCase[] = []
  cur: RawCase | undefined
  rec: FailureRec | undefined
  /** Depth of system-out/err nested inside a failure record (its text is not the failure's). */
  nestedOut = 0
  inSkipped = false
  readonly cap: number

  constructor(cap: number) {
    this.cap = cap
  }

  open(name: string, attrs: Record<string, string>): void {
    if (this.rootName === undefined) {
      this.rootName = name
      this.rootAttrs = attrs
    }
    if (name === 'testsuite') {
      this.suites.push(attrs)
      this.firstSuite ??= attrs
      return
    }
    if (name === 'property') {
      if (attrs.name) this.properties.add(attrs.name)
      return
    }
    if (name === 'testcase') {
      const suite = this.suites[this.suites.length - 1] ?? {}
      this.cur = {
        classname: attrs.classname ?? attrs.class ?? '',
        name: attrs.name ?? '',
        file: attrs.file ?? attrs.filepath ?? '',
        time: attrs.time,
        suiteName: suite.name ?? '',
        suiteFile: suite.file ?? suite.filepath ?? '',
        hostname: suite.hostname ?? '',
        recs: [],
        skipped: false,
      }
      return
    }
    if (!this.cur) return
    const kind = failureTags[name]
    if (kind && !this.rec) {
      this.rec = { kind, type: cleanLine(attrs.type ?? ''), message: cleanText(attrs.message ?? ''), text: '' }
      this.cur.recs.push(this.rec)
      this.wantText = true
      return
    }
    if (this.rec && (name === 'system-out' || name === 'system-err')) {
      this.nestedOut++
      this.wantText = false
      return
    }
    if (name === 'skipped') {
      this.cur.skipped = true
      return
    }
  }

  close(name: string): void {
    if (name === 'testsuite') {
      this.suites.pop()
      return
    }
    if (name === 'testcase') {
      if (this.cur) this.cases.push(this.cur)
      this.cur = undefined
      this.rec = undefined
      this.wantText = false
      this.nestedOut = 0
      return
    }
    if (this.rec) {
      if (name === 'system-out' || name === 'system-err') {
        this.nestedOut = Math.max(0, this.nestedOut - 1)
        this.wantText = this.nestedOut === 0
        return
      }
      if (failureTags[name] === this.rec.kind) {
        this.rec.text = cleanText(this.rec.text)
        this.rec = undefined
        this.wantText = false
      }
    }
  }

  text(value: string): void {
    const r = this.rec
    if (!r || this.nestedOut > 0) return
    if (r.text.length < this.cap) r.text += value.length > this.cap ? value.slice(0, this.cap) : value
  }
}

/** Parses one JUnit report. Never throws: problems are returned per file. */
export function parseJunit(input: Uint8Array | string, opts: ParseOptions): ParsedReport {
  const file = opts.file
  const cap = opts.messageMaxChars ?? 2000
  const errors: FileProblem[] = []
  const warnings: FileProblem[] = []
  let text: string
  try {
    text = typeof input === 'string' ? input : decodeXmlBytes(input)
  } catch (err) {
    return { framework: opts.framework ?? 'junit', cases: [], errors: [{ file, kind: 'unreadable', message: `cannot decode: ${(err as Error).message}` }], warnings }
  }
  if (text.trim().length === 0) {
    return { framework: opts.framework ?? 'junit', cases: [], errors: [{ file, kind: 'empty', message: 'the file is empty: missing data, not a pass' }], warnings }
  }
  const h = new JunitHandler(cap * 2)
  const scan = scanXml(text, h)
  if (h.rootName === undefined) {
    errors.push({ file, kind: 'malformed', message: 'no XML element found: is this a JUnit report?' })
    return { framework: opts.framework ?? 'junit', cases: [], errors, warnings }
  }
  if (h.rootName !== 'testsuites' && h.rootName !== 'testsuite') {
    errors.push({ file, kind: 'not_junit', message: `root element is <${h.rootName}>, expected <testsuites> or <testsuite> (JUnit XML)` })
    return { framework: opts.framework ?? 'junit', cases: [], errors, warnings }
  }
  if (scan.truncated) {
    const line = lineOf(text, scan.error?.offset ?? text.length)
    errors.push({
      file,
      kind: 'truncated',
      line,
      message: `report is incomplete (${scan.error?.message ?? 'ends early'} at line ${line}); ${h.cases.length} complete test case(s) before it were kept, the rest is missing data`,
    })
  }
  const framework = opts.framework ?? detectFramework(h)
  const cases = foldCases(h.cases, framework, opts.root, cap, file, warnings)
  if (cases.length === 0 && !scan.truncated) warnings.push({ file, kind: 'empty', message: 'the report has no test cases' })
  return { framework, cases, errors, warnings }
}

function detectFramework(h: JunitHandler): Framework {
  const rootName = (h.rootAttrs.name ?? '').toLowerCase()
  const s = h.firstSuite ?? {}
  if (rootName === 'vitest tests') return 'vitest'
  if (rootName === 'jest tests') return 'jest'
  if (rootName === 'mocha tests') return 'mocha'
  if (rootName.includes('pytest') || s.name === 'pytest') return 'pytest'
  if (h.properties.has('go.version')) return 'gotestsum'
  const schema = s['xsi:noNamespaceSchemaLocation'] ?? h.rootAttrs['xsi:noNamespaceSchemaLocation'] ?? ''
  if (schema.includes('surefire') || [...h.properties].some((p) => p.startsWith('surefire.') || p.startsWith('maven.'))) return 'surefire'
  if (s.package !== undefined || /\.dll$/i.test(s.name ?? '')) return 'dotnet'
  if (h.rootName === 'testsuites' && 'id' in h.rootAttrs && s.hostname !== undefined) return 'playwright'
  if (h.properties.has('java.version')) return 'surefire'
  return 'junit'
}

function foldCases(raw: RawCase[], framework: Framework, root: string | undefined, cap: number, file: string, warnings: FileProblem[]): ParsedCase[] {
  const byId = new Map<string, ParsedCase & { passes: number; failed: number }>()
  const collisions = new Set<string>()
  for (const rc of raw) {
    const { testId, file: testFile, suite, name } = identityOf(rc, framework, root)

    const none: FailureRec[] = []
    const finals = rc.recs.length ? rc.recs.filter((r) => r.kind === 'failure' || r.kind === 'error') : none
    const flaky = rc.recs.length ? rc.recs.filter((r) => r.kind === 'flaky') : none
    const reruns = rc.recs.length ? rc.recs.filter((r) => r.kind === 'rerun' || r.kind === 'pyrerun') : none
    let outcome: Outcome
    let attempts: number
    let fails: number
    if (finals.length > 0) {
      outcome = 'fail'
      attempts = 1 + reruns.length
      fails = attempts
    } else if (flaky.length > 0 || reruns.length > 0) {
      outcome = 'pass'
      attempts = 1 + flaky.length + reruns.length
      fails = flaky.length + reruns.length
    } else if (rc.skipped) {
      outcome = 'skip'
      attempts = 0
      fails = 0
    } else {
      outcome = 'pass'
      attempts = 1
      fails = 0
    }
    const first = finals[0] ?? flaky[0] ?? reruns[0]
    const failure = first ? { type: first.type, message: capText(first.message, cap), text: capText(first.text, cap) } : undefined
    const durationMs = parseSeconds(rc.time, framework)

    const prev = byId.get(testId)
    if (!prev) {
      byId.set(testId, {
        testId,
        file: testFile,
        suite,
        name,
        outcome,
        attempts,
        fails,
        ...(durationMs !== undefined ? { durationMs } : {}),
        ...(failure ? { failure } : {}),
        passes: outcome === 'pass' ? 1 : 0,
        failed: outcome === 'fail' ? 1 : 0,
      })
      continue
    }
    // Same identity again in one report: a retry (gotestsum --rerun-fails, pytest reruns) — folded as attempts.
    prev.attempts += attempts
    prev.fails += fails
    if (outcome === 'pass') prev.passes++
    if (outcome === 'fail') prev.failed++
    if (prev.passes > 1) collisions.add(testId)
    prev.outcome = prev.passes > 0 ? 'pass' : prev.failed > 0 ? 'fail' : 'skip'
    if (!prev.failure && failure) prev.failure = failure
    // The duration of the last attempt is the test's time (earlier attempts are retry overhead).
    if (durationMs !== undefined) prev.durationMs = durationMs
  }
  for (const id of collisions) {
    const c = byId.get(id)!
    warnings.push({
      file,
      kind: 'collision',
      message: `test identity collision: "${c.suite} › ${c.name}" passed more than once in one report; distinct tests share a name (treated as one test)`,
    })
  }
  return [...byId.values()].map(({ passes: _p, failed: _f, ...c }) => c)
}

interface Identity {
  testId: string
  file: string
  suite: string
  name: string
}

// The same tests come back in every run: normalising and hashing their identity once saves most of the work.
const identities = new Map<string, Identity>()
const maxIdentities = 500_000

function identityOf(rc: RawCase, framework: Framework, root: string | undefined): Identity {
  const key = `${framework}\u0000${root ?? ''}\u0000${rc.classname}\u0000${rc.suiteName}\u0000${rc.file}\u0000${rc.suiteFile}\u0000${rc.hostname}\u0000${rc.name}`
  const hit = identities.get(key)
  if (hit) return hit
  let name = cleanLine(rc.name)
  const suite = normalizeSuite(cleanLine(rc.classname || rc.suiteName), root)
  const file = rc.file || rc.suiteFile ? normalizePath(cleanLine(rc.file || rc.suiteFile), root) : ''
  // Playwright puts the project (browser) in the suite's hostname: the same test per project is a different test.
  if (framework === 'playwright' && rc.hostname && !name.startsWith('[')) name = `[${cleanLine(rc.hostname)}] ${name}`
  if (!name) name = '(unnamed)'
  // pytest's classname already names the module, and only the xunit1 family writes `file`: leave it out of the id
  // so switching families keeps every test's history.
  const id: Identity = { testId: testIdOf(framework, framework === 'pytest' ? '' : file, suite, name), file, suite, name }
  if (identities.size >= maxIdentities) identities.clear()
  identities.set(key, id)
  return id
}

/**
 * JUnit `time` is seconds. Locale-safe: "1,234.5" (grouping) → 1234.5; "0,123" (decimal comma) → 0.123;
 * "1,234" is grouping for Surefire (which formats with #,##0.###) and a decimal comma elsewhere. Returns ms.
 */
export function parseSeconds(raw: string | undefined, framework: Framework = 'junit'): number | undefined {
  if (raw === undefined) return undefined
  if (/^\d{1,9}(?:\.\d{1,9})?$/.test(raw)) return Math.round(Number(raw) * 1e6) / 1e3
  let s = raw.trim().replace(/\s|\u00a0|\u202f|'/g, '').replace(/s$/i, '')
  if (!s) return undefined
  const comma = s.lastIndexOf(',')
  const dot = s.lastIndexOf('.')
  if (comma !== -1 && dot !== -1) {
    s = comma > dot ? s.replace(/\./g, '').replace(',', '.') : s.replace(/,/g, '')
  } else if (comma !== -1) {
    const groups = s.split(',')
    const grouping = groups.length > 2 || (framework === 'surefire' && groups[1]?.length === 3)
    s = grouping ? groups.join('') : s.replace(',', '.')
  }
  if (!/^-?(?:\d*\.)?\d+(?:[eE][-+]?\d+)?$/.test(s)) return undefined
  const v = Number(s)
  if (!Number.isFinite(v) || v < 0) return undefined
  return Math.round(v * 1e6) / 1e3
}

function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++
  return line
}
