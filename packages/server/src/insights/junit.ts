/** @module insights/junit — lenient JUnit XML reader for the common producers (Surefire, pytest, Jest, Vitest, Mocha, Playwright, gotestsum, dotnet). */
import type { FileProblem } from '@tidepool/sdk'
import { cleanLine, cleanText } from './clean.js'
import { looksLikeJestJson, parseJestJson } from './junit-json.js'
import { foldCases, type FailureRec, type Framework, type ParsedCase, type RawCase } from './junit-fold.js'
import { decodeXmlBytes, scanXml, type XmlHandler } from './xml.js'

export { parseSeconds } from './junit-fold.js'
export type { Framework, Outcome, ParsedCase } from './junit-fold.js'

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

// Null-prototype: an element named <constructor> or <__proto__> is no failure tag (it would hide the failure inside it).
const failureTags: Record<string, FailureRec['kind']> = Object.assign(
  Object.create(null) as Record<string, FailureRec['kind']>,
  {
    failure: 'failure',
    error: 'error',
    flakyFailure: 'flaky',
    flakyError: 'flaky',
    rerunFailure: 'rerun',
    rerunError: 'rerun',
    rerun: 'pyrerun',
  } as const,
)

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
  /** Inside the test case's own <system-out> (read only for Playwright's retry attachments). */
  inCaseOut = false
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
    if (!this.rec && name === 'system-out') {
      this.inCaseOut = true
      this.wantText = true
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
      this.inCaseOut = false
      return
    }
    if (this.inCaseOut && name === 'system-out') {
      this.inCaseOut = false
      this.wantText = false
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
    if (this.inCaseOut) {
      if (this.cur) this.cur.retries = Math.max(this.cur.retries ?? 0, attachmentRetry(value))
      return
    }
    const r = this.rec
    if (!r || this.nestedOut > 0) return
    if (this.cur && value.includes('Retry #')) this.cur.retries = Math.max(this.cur.retries ?? 0, retrySection(value))
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
  // Jest's own JSON summary (it tells retries that jest-junit hides).
  if (looksLikeJestJson(text)) return { framework: 'jest', ...parseJestJson(text, file, opts.root, cap * 2) }
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

function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++
  return line
}

/** Highest N of Playwright's `[[ATTACHMENT|test-results/<test>-retryN/…]]` lines (0: none). Linear scans only. */
export function attachmentRetry(text: string): number {
  let max = 0
  for (let i = text.indexOf('[[ATTACHMENT|'); i !== -1; i = text.indexOf('[[ATTACHMENT|', i + 13)) {
    // An attachment path is short: look at most 512 characters ahead (linear in the text whatever it holds).
    const seg = text.slice(i, i + 512)
    const end = seg.indexOf(']]')
    const line = end === -1 ? seg : seg.slice(0, end)
    for (let j = line.indexOf('-retry'); j !== -1; j = line.indexOf('-retry', j + 6)) {
      const n = digitsAt(line, j + 6)
      if (n > 0 && line[j + 6 + String(n).length] === '/') max = Math.max(max, n)
    }
  }
  return max
}

/** Highest N of Playwright's "Retry #N" section headers in a failure body (0: none). */
export function retrySection(text: string): number {
  let max = 0
  for (let i = text.indexOf('Retry #'); i !== -1; i = text.indexOf('Retry #', i + 7)) max = Math.max(max, digitsAt(text, i + 7))
  return max
}

function digitsAt(s: string, at: number): number {
  let n = 0
  let k = at
  while (k < s.length && k < at + 4 && s.charCodeAt(k) >= 48 && s.charCodeAt(k) <= 57) n = n * 10 + s.charCodeAt(k++) - 48
  return n
}
