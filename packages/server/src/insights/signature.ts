/** @module insights/signature — normalise failure messages and traces into a stable error signature. */
import { createHash } from 'node:crypto'
import { cleanText } from './clean.js'

type Replacer = (match: string, ...groups: (string | undefined)[]) => string
/** `$1` + `suffix` where the pattern's first alternative matched; the text unchanged where the second did. */
const keepUnless =
  (suffix: string, prefix = ''): Replacer =>
  (m, g1) =>
    g1 === undefined ? m : `${prefix}${g1}${suffix}`

// Order matters: specific shapes first (they contain digits the generic number rule would eat).
// Every rule is linear in the message (core/input-patterns.test.ts times each on pathological input). Two
// idioms keep them so: a second alternative that consumes a run the first failed on, where a later start
// inside that run cannot succeed when the first start did not (the engine would otherwise retry the run
// from each of its characters: quadratic); and bounded gaps (≤ 200 characters).
const rules: [RegExp, string | Replacer][] = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<ts>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, '<date>'],
  [/\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<time>'],
  [/\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4}\b/g, '<date>'],
  [/\bhttps?:\/\/[^\s'"<>)]+/g, '<url>'],
  [/\b0x[0-9a-f]+\b/gi, '<addr>'],
  [/\[(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\](?::\d+)?/gi, '<ip>'],
  // paths (posix and windows), with any :line:col → basename only
  [/(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]([\w.@+~-]+?)(?::\d+)+(?=\W|$)|(?:[\\/][\w.@+~-]+)+/g, keepUnless(':<line>', '<path>/')],
  [/(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]([\w.@+~-]+)/g, '<path>/$1'],
  [/\b(?:([\w.-]+\.(?:[jt]sx?|mjs|cjs|py|java|kt|go|cs|rb|rs|php|scala|swift))(?::\d+)+|[\w.-]+)/g, keepUnless(':<line>')],
  [/\bline \d+\b/gi, 'line <n>'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '<ip>'],
  // The host is checked looking back from each `:` (runs between two colons are disjoint, so each is read
  // once); matching it forwards from every \b of a long a-b-c… run retried that run from each of them.
  [/:(?<=\b(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):)\d{2,5}\b/gi, ':<port>'],
  [/\bport \d{2,5}\b/gi, 'port <port>'],
  // prefixed ids (sbx_k3j9…, req-8f2…, run_42, tok_…)
  [/\b[a-z]{2,10}[_-](?=[a-z0-9]*\d)[a-z0-9]{4,}\b/gi, '<id>'],
  [/\b[0-9a-f]{12,}\b/gi, '<hex>'],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,11}\b/gi, '<hex>'],
  // random lowercase tokens with several digits (k3j9x2m1q8w7); CamelCase identifiers like Suite28Test stay
  [/\b(?=(?:[a-z]*\d){3})(?=\d*[a-z])[a-z0-9]{10,}\b/g, '<id>'],
  [/\bpid[ =:]?\d+/gi, 'pid <n>'],
  [/(?<![A-Za-z0-9_<])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi, '<n>'],
]

/** The normalised form of a failure's text: placeholders for everything that varies between runs. */
export function normalizeMessage(s: string): string {
  let out = cleanText(s)
  for (const [re, rep] of rules) out = typeof rep === 'string' ? out.replace(re, rep) : out.replace(re, rep as (m: string, ...g: string[]) => string)
  return out.replace(/\s+/g, ' ').trim()
}

/** First frames that belong to the code under test (skips runner internals). */
function topFrames(trace: string, n: number): string[] {
  const frames: string[] = []
  for (const raw of trace.split('\n')) {
    const line = raw.trim()
    const isFrame = /^at\s/.test(line) || /^File ".*", line \d+/.test(line) || /^\S+\.go:\d+/.test(line) || /^[\w./-]+\.py:\d+:/.test(line)
    if (!isFrame) continue
    if (/node_modules|\(node:|node:internal|<anonymous>|java\.base\/|org\.junit\.|sun\.reflect|_pytest|pluggy|testing\/testing\.go|runtime\/|System\.Runtime/.test(line)) continue
    frames.push(line)
    if (frames.length >= n) break
  }
  return frames
}

export interface SignatureInput {
  type?: string
  message?: string
  text?: string
}

export interface Signature {
  id: string
  text: string
}

/**
 * `sig_` + 12 hex over the normalised type and first message line(s). The same error in many tests is one
 * signature (an outage, a shared bug); the top stack frame joins in only when the message says too little to
 * tell failures apart (empty, or a single word like a bare "AssertionError" or "Failed").
 */
export function signatureOf(f: SignatureInput): Signature {
  const message = (f.message ?? '').trim() || firstLines(f.text ?? '', 2)
  const head = normalizeMessage(firstLines(message, 3)).slice(0, 400)
  const type = normalizeMessage(f.type ?? '')
  const generic =
    head
      .replace(/<[a-z]+>/g, '')
      .split(/\s+/)
      .filter((w) => /\w{2,}/.test(w)).length < 2
  const frame = generic ? topFrames(f.text ?? '', 1).map(normalizeMessage)[0] : undefined
  const text = [type && !head.startsWith(type) ? type : '', head, frame].filter(Boolean).join(' | ') || '(no message)'
  return { id: `sig_${createHash('sha256').update(text).digest('hex').slice(0, 12)}`, text }
}

function firstLines(s: string, n: number): string {
  return s
    .split('\n')
    .filter((l) => l.trim())
    .slice(0, n)
    .join('\n')
}

const infraPatterns = [
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE|socket hang up/i,
  /connection (?:refused|reset|timed out|closed)|connect(?:ion)? timed out|ConnectException|could not connect|failed to connect|unable to connect|network is unreachable|no route to host/i,
  /name or service not known|temporary failure in name resolution|getaddrinfo|\bDNS\b/i,
  /\b(?:502|503|504)\b.{0,200}?(?:gateway|unavailable|timeout)|service unavailable|bad gateway|gateway time-?out|too many requests|rate limit/i,
  /out of memory|\bOOM\b|OutOfMemoryError|cannot allocate memory|ENOMEM|signal: killed|exit code 137|SIGKILL/i,
  /no space left on device|ENOSPC|disk quota|read-only file system|too many open files|EMFILE/i,
  /timed? ?out waiting for|deadline exceeded|context deadline|lock wait timeout|database is locked|too many connections/i,
  /docker daemon|container .{0,200}? (?:exited|not running)|image pull|runner .{0,200}? (?:lost|offline)|agent .{0,200}? disconnected/i,
]

/** Looks like infrastructure (network, DNS, resources, capacity) rather than the code under test. */
export function isInfraLike(text: string): boolean {
  return infraPatterns.some((re) => re.test(text))
}
