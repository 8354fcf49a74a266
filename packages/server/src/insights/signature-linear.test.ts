import { describe, expect, it } from 'vitest'
import { cleanText } from './clean.js'
import { isInfraLike, normalizeMessage } from './signature.js'

/** The rules as they were before they were made linear (commit b92cdb7): the reference on short inputs. */
const before: [RegExp, string][] = [
  [/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>'],
  [/\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?/g, '<ts>'],
  [/\b\d{4}-\d{2}-\d{2}\b/g, '<date>'],
  [/\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b/g, '<time>'],
  [/\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4}\b/g, '<date>'],
  [/\bhttps?:\/\/[^\s'"<>)]+/g, '<url>'],
  [/\b0x[0-9a-f]+\b/gi, '<addr>'],
  [/\[(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\](?::\d+)?/gi, '<ip>'],
  [/(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]([\w.@+~-]+?)(?::\d+)+(?=\W|$)/g, '<path>/$1:<line>'],
  [/(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]([\w.@+~-]+)/g, '<path>/$1'],
  [/\b([\w.-]+\.(?:[jt]sx?|mjs|cjs|py|java|kt|go|cs|rb|rs|php|scala|swift))(?::\d+)+/g, '$1:<line>'],
  [/\bline \d+\b/gi, 'line <n>'],
  [/\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g, '<ip>'],
  [/\b(localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{2,5}\b/gi, '$1:<port>'],
  [/\bport \d{2,5}\b/gi, 'port <port>'],
  [/\b[a-z]{2,10}[_-](?=[a-z0-9]*\d)[a-z0-9]{4,}\b/gi, '<id>'],
  [/\b[0-9a-f]{12,}\b/gi, '<hex>'],
  [/\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,11}\b/gi, '<hex>'],
  [/\b(?=(?:[a-z]*\d){3})(?=\d*[a-z])[a-z0-9]{10,}\b/g, '<id>'],
  [/\bpid[ =:]?\d+/gi, 'pid <n>'],
  [/(?<![A-Za-z0-9_<])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/gi, '<n>'],
]
const reference = (s: string) => {
  let out = cleanText(s)
  for (const [re, rep] of before) out = out.replace(re, rep)
  return out.replace(/\s+/g, ' ').trim()
}

/** Deterministic random messages built from the pieces the path, file:line and host:port rules look at. */
function* messages(count: number): Generator<string> {
  const tokens = ['a', '0', '12', '/', '\\', '.', ':', '-', ' ', '.ts', '.js:3', 'C:', 'localhost', 'x', '_', '@', '80', 'b.c', 'b.c:80', '\n']
  let seed = 7
  const rnd = (k: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % k
  }
  for (let i = 0; i < count; i++) {
    let s = ''
    for (let j = rnd(14); j >= 0; j--) s += tokens[rnd(tokens.length)]
    yield s
  }
}

describe('the linear signature rules', () => {
  it('normalise exactly as the backtracking ones did (40 000 random messages)', () => {
    // One known difference: a host that starts with the digits of the port just before it (`a.b:80.c:90`):
    // the forward rule had consumed those digits, the look-behind one does not. Such inputs are skipped.
    const portThenHost = /:\d{2,5}[a-z0-9.-]*\.[a-z0-9-]*:\d/i
    const differ: string[] = []
    for (const s of messages(40_000)) if (!portThenHost.test(s) && normalizeMessage(s) !== reference(s)) differ.push(s)
    expect(differ.slice(0, 5)).toEqual([])
  })

  it('still normalise paths, file:line and host:port in real messages', () => {
    expect(normalizeMessage('Error at /home/ci/work/app/src/db.ts:42:7 connecting to db.internal:5432')).toBe('Error at <path>/db.ts:<line> connecting to db.internal:<port>')
    expect(normalizeMessage('C:\\a\\b\\Foo.cs:12 failed; see util.py:3 and localhost:8080')).toBe('<path>/Foo.cs:<line> failed; see util.py:<line> and localhost:<port>')
  })

  it('tell infrastructure by phrases up to 200 characters apart, as before for real messages', () => {
    expect(isInfraLike('HTTP 503 from upstream: service is unavailable')).toBe(true)
    expect(isInfraLike('container abc123 exited with code 1')).toBe(true)
    expect(isInfraLike(`HTTP 503 ${'x'.repeat(300)} unavailable`)).toBe(false)
  })
})
