import { readFileSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { confirmedGrowth, explosionEnvelope } from '../testing/growth.js'
import { dynamicRegexSites, regexFiles } from './input-patterns.js'

const packagesDir = fileURLToPath(new URL('../../../', import.meta.url))
const roots = ['server/src', 'sdk/src']
const isTestCode = (p: string) => /\.(test|suite|fixture)\.ts$/.test(p)

interface Found {
  file: string
  line: number
  source: string
  flags: string
}

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) sourceFiles(p, out)
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts') && !isTestCode(p)) out.push(p)
  }
  return out
}

/** Every regex literal, and every place a pattern is built at run time, in the production sources. */
function scan(): { literals: Found[]; dynamic: string[] } {
  const literals: Found[] = []
  const dynamic: string[] = []
  for (const root of roots) {
    for (const path of sourceFiles(join(packagesDir, root))) {
      const file = relative(packagesDir, path)
      const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
      const where = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`
      const visit = (n: ts.Node): void => {
        if (n.kind === ts.SyntaxKind.RegularExpressionLiteral) {
          const text = n.getText()
          const end = text.lastIndexOf('/')
          literals.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, source: text.slice(1, end), flags: text.slice(end + 1) })
        }
        if ((ts.isNewExpression(n) || ts.isCallExpression(n)) && ts.isIdentifier(n.expression) && n.expression.text === 'RegExp') {
          dynamic.push(`${where(n)}: ${n.getText().slice(0, 80)}`)
        }
        // zod's .regex() and String's match/matchAll/search/replace turn a non-literal into a pattern too.
        if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression)) {
          const m = n.expression.name.text
          const arg = n.arguments[0]
          const literalOrString = arg && (arg.kind === ts.SyntaxKind.RegularExpressionLiteral || ts.isStringLiteralLike(arg))
          if ((m === 'regex' || m === 'matchAll' || m === 'search') && arg && !literalOrString) dynamic.push(`${where(n)}: ${n.getText().slice(0, 80)}`)
          if (m === 'match' && arg && n.arguments.length === 1 && !literalOrString) {
            dynamic.push(`${where(n)}: ${n.getText().slice(0, 80)}`)
          }
        }
        ts.forEachChild(n, visit)
      }
      visit(sf)
    }
  }
  return { literals, dynamic }
}

/** Characters and literal words of a pattern: the raw material of its pathological inputs. */
function alphabet(source: string): { chars: string[]; words: string[] } {
  const escapes: Record<string, string> = { d: '0', D: 'a', w: 'a', W: ' ', s: ' ', S: 'a', n: '\n', t: '\t', r: '\r', f: '\f', v: '\v' }
  const chars = new Set<string>(['a', '0', ' ', 'A', '_', '-', '.', '/', ':', '\n'])
  const words: string[] = []
  let word = ''
  let inClass = false
  const flush = () => {
    if (word.length >= 2 && words.length < 12) words.push(word)
    word = ''
  }
  for (let i = 0; i < source.length; i++) {
    let c = source[i]!
    let literal = true
    if (c === '\\') {
      const e = source[++i] ?? ''
      if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(source.slice(i + 1, i + 5))) {
        c = String.fromCharCode(parseInt(source.slice(i + 1, i + 5), 16))
        i += 4
      } else if (e === 'x') {
        c = String.fromCharCode(parseInt(source.slice(i + 1, i + 3), 16))
        i += 2
      } else if (e in escapes) {
        c = escapes[e]!
        literal = e === 'n' || e === 't'
      } else if (e === 'b' || e === 'B') {
        flush()
        continue
      } else c = e
    } else if (c === '[') {
      flush()
      inClass = true
      continue
    } else if (c === ']') {
      inClass = false
      continue
    } else if (!inClass && '()|?*+{}^$.'.includes(c)) {
      // A quantifier binds the character before it: that one is not part of a literal word.
      if ('?*+{'.includes(c)) word = word.slice(0, -1)
      flush()
      if (c === '.') chars.add('a')
      continue
    }
    if (c.length === 1 && !Number.isNaN(c.charCodeAt(0))) chars.add(c)
    if (!inClass && literal) word += c
    else flush()
  }
  flush()
  return { chars: [...chars].slice(0, 40), words }
}

const rep = (unit: string, n: number) => unit.repeat(Math.max(1, Math.ceil(n / unit.length)))

/** Inputs that make a backtracking engine retry: long runs of the pattern's own characters, pairs, words. */
function evilInputs(source: string, extra: readonly ((n: number) => string)[] = []): ((n: number) => string)[] {
  const { chars, words } = alphabet(source)
  const out: ((n: number) => string)[] = chars.map((c) => (n: number) => rep(c, n))
  const core = chars.slice(0, 10)
  for (const a of core) for (const b of core) if (a !== b) out.push((n) => rep(a + b, n))
  // A run that almost matches and then fails at its very end is what makes nested quantifiers explode.
  for (const c of core) out.push((n) => `${rep(c, n)}\u0001`)
  for (const w of words) {
    out.push(
      (n) => rep(w, n),
      (n) => rep(`${w} `, n),
      (n) => `${rep(w, n)}\u0001`,
    )
    for (const c of ['a', ' ', '0', '/']) out.push((n) => w + rep(c, n))
  }
  return [...out, ...extra]
}

function superlinear(f: Found, n = 512): string[] {
  const re = new RegExp(f.source, f.flags.includes('g') ? f.flags : `${f.flags}g`)
  // replace() walks every match to the end of the input: at least as much work as test/exec/split/match.
  const apply = (s: string) => s.replace(re, '')
  const problems: string[] = []
  for (const make of evilInputs(f.source, regexFiles[f.file]?.evil)) {
    // From 8 to 128 characters first: an exponential pattern shows there long before 512 would hang the run.
    const tiny = confirmedGrowth(make, apply, 8, explosionEnvelope)
    const g = tiny.linear ? confirmedGrowth(make, apply, n) : tiny
    if (!g.linear) {
      problems.push(`${f.file}:${f.line} /${f.source}/${f.flags} took ${g.ratio.toFixed(0)}x as long on ${g.multiple}x more of ${JSON.stringify(make(24).slice(0, 24))}…`)
      break
    }
  }
  return problems
}

describe('every regular expression of the server and the SDK', () => {
  const { literals, dynamic } = scan()

  it('lives in a file registered in core/input-patterns.ts, which lists no file without one', () => {
    const files = new Set(literals.map((l) => l.file))
    expect(
      [...files].filter((f) => !(f in regexFiles)),
      'files with a regex but no entry in core/input-patterns.ts: say what input they see',
    ).toEqual([])
    expect(
      Object.keys(regexFiles).filter((f) => !files.has(f)),
      'entries of core/input-patterns.ts with no regex left: remove them',
    ).toEqual([])
  })

  it('is a literal, never a pattern built at run time (which no test could enumerate)', () => {
    expect(dynamic.filter((d) => !(d.split(':')[0]! in dynamicRegexSites))).toEqual([])
  })

  it('runs in time linear in its input, on pathological inputs from 512 to 8192 characters', { timeout: 300_000 }, () => {
    expect(literals.length).toBeGreaterThan(50) // the scan found the tree
    expect(literals.flatMap((f) => superlinear(f))).toEqual([])
  })

  it('(the measure itself tells a quadratic pattern from a linear one)', () => {
    const quadratic = { file: 'fixture', line: 1, source: '([a-z][a-z0-9+.-]*:\\/\\/[^:/@\\s]+:)[^@\\s]+@', flags: 'gi' }
    expect(superlinear(quadratic)).toHaveLength(1)
    expect(superlinear({ file: 'fixture', line: 1, source: '^(a+)+$', flags: '' })).toHaveLength(1)
    expect(superlinear({ file: 'fixture', line: 1, source: 'relation .* does not exist', flags: 'i' })).toHaveLength(1)
    expect(superlinear({ file: 'fixture', line: 1, source: '^[a-z0-9_-]+$', flags: '' })).toEqual([])
  })
})
