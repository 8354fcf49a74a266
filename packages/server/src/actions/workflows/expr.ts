/**
 * @module actions/workflows/expr — the `${{ … }}` expression language of workflow files: references
 * (`inputs.name`, `steps.id.outputs.a.b`, `steps.id.outcome`), string/number/boolean/null literals,
 * `==` `!=` `&&` `||` `!`, parentheses, and `success()` `failure()` `always()` in `if`.
 *
 * Hand-written and linear: one pass of a tokenizer over at most `maxExprChars` characters, a recursive
 * descent parser with a depth bound, no regular expressions. Offsets in errors count from the start of
 * the expression text, so the caller can turn them into a line and column of the file.
 */

export const maxExprChars = 1024
const maxDepth = 32

export type StatusFn = 'success' | 'failure' | 'always'
export type Expr =
  | { kind: 'lit'; value: string | number | boolean | null; at: number }
  | { kind: 'ref'; path: string[]; at: number }
  | { kind: 'call'; fn: StatusFn; at: number }
  | { kind: 'not'; arg: Expr; at: number }
  | { kind: 'bin'; op: '==' | '!=' | '&&' | '||'; left: Expr; right: Expr; at: number }

/** A syntax or evaluation error at `offset` (characters into the expression). */
export class ExprError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message)
    this.name = 'ExprError'
  }
}

type Tok = { t: 'ident' | 'str' | 'num' | 'op' | 'end'; v: string; at: number }

const isIdentStart = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_'
const isIdentPart = (c: string) => isIdentStart(c) || (c >= '0' && c <= '9') || c === '-'
const isDigit = (c: string) => c >= '0' && c <= '9'

function tokenize(src: string): Tok[] {
  if (src.length > maxExprChars) throw new ExprError(`an expression has at most ${maxExprChars} characters (got ${src.length})`, 0)
  const out: Tok[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
    } else if (isIdentStart(c)) {
      const at = i
      while (i < src.length && isIdentPart(src[i]!)) i++
      out.push({ t: 'ident', v: src.slice(at, i), at })
    } else if (isDigit(c) || (c === '-' && isDigit(src[i + 1] ?? ''))) {
      const at = i++
      while (i < src.length && (isDigit(src[i]!) || src[i] === '.')) i++
      const text = src.slice(at, i)
      if (!Number.isFinite(Number(text))) throw new ExprError(`${text} is not a number`, at)
      out.push({ t: 'num', v: text, at })
    } else if (c === "'" || c === '"') {
      // GitHub's quoting: a quote inside is written twice ('it''s').
      const at = i++
      let text = ''
      for (;;) {
        if (i >= src.length) throw new ExprError('a string literal is not closed', at)
        if (src[i] === c) {
          if (src[i + 1] === c) {
            text += c
            i += 2
            continue
          }
          i++
          break
        }
        text += src[i]
        i++
      }
      out.push({ t: 'str', v: text, at })
    } else {
      const two = src.slice(i, i + 2)
      if (two === '==' || two === '!=' || two === '&&' || two === '||') {
        out.push({ t: 'op', v: two, at: i })
        i += 2
      } else if (c === '!' || c === '(' || c === ')' || c === '.') {
        out.push({ t: 'op', v: c, at: i })
        i++
      } else throw new ExprError(`unexpected character ${JSON.stringify(c)}`, i)
    }
  }
  out.push({ t: 'end', v: '', at: src.length })
  return out
}

/** Parses one expression (the text between `${{` and `}}`, or a whole `if:`). */
export function parseExpr(src: string): Expr {
  const toks = tokenize(src)
  let pos = 0
  const peek = () => toks[pos]!
  const next = () => toks[pos++]!
  const isOp = (v: string) => peek().t === 'op' && peek().v === v

  const or = (depth: number): Expr => {
    let left = and(depth)
    while (isOp('||')) {
      const at = next().at
      left = { kind: 'bin', op: '||', left, right: and(depth), at }
    }
    return left
  }
  const and = (depth: number): Expr => {
    let left = unary(depth)
    while (isOp('&&')) {
      const at = next().at
      left = { kind: 'bin', op: '&&', left, right: unary(depth), at }
    }
    return left
  }
  const unary = (depth: number): Expr => {
    if (depth > maxDepth) throw new ExprError(`an expression nests at most ${maxDepth} levels`, peek().at)
    if (isOp('!')) {
      const at = next().at
      return { kind: 'not', arg: unary(depth + 1), at }
    }
    const left = primary(depth)
    if (isOp('==') || isOp('!=')) {
      const op = next()
      return { kind: 'bin', op: op.v as '==' | '!=', left, right: primary(depth), at: op.at }
    }
    return left
  }
  const primary = (depth: number): Expr => {
    const tok = next()
    if (tok.t === 'op' && tok.v === '(') {
      const inner = or(depth + 1)
      const close = next()
      if (close.t !== 'op' || close.v !== ')') throw new ExprError('expected )', close.at)
      return inner
    }
    if (tok.t === 'str') return { kind: 'lit', value: tok.v, at: tok.at }
    if (tok.t === 'num') return { kind: 'lit', value: Number(tok.v), at: tok.at }
    if (tok.t === 'ident') {
      if (tok.v === 'true' || tok.v === 'false') return { kind: 'lit', value: tok.v === 'true', at: tok.at }
      if (tok.v === 'null') return { kind: 'lit', value: null, at: tok.at }
      if (isOp('(')) {
        next()
        const close = next()
        if (close.t !== 'op' || close.v !== ')') throw new ExprError(`${tok.v}() takes no arguments`, close.at)
        if (tok.v !== 'success' && tok.v !== 'failure' && tok.v !== 'always') throw new ExprError(`unknown function ${tok.v}(); there are success(), failure() and always()`, tok.at)
        return { kind: 'call', fn: tok.v, at: tok.at }
      }
      const path = [tok.v]
      while (isOp('.')) {
        next()
        const part = next()
        if (part.t !== 'ident' && part.t !== 'num') throw new ExprError('expected a name after .', part.at)
        path.push(part.v)
      }
      return { kind: 'ref', path, at: tok.at }
    }
    throw new ExprError(tok.t === 'end' ? 'the expression ends too early' : `unexpected ${JSON.stringify(tok.v)}`, tok.at)
  }

  const e = or(0)
  const rest = peek()
  if (rest.t !== 'end') throw new ExprError(`unexpected ${JSON.stringify(rest.v)} after the expression`, rest.at)
  return e
}

/** Every reference in an expression, in source order. */
export function refsOf(e: Expr, out: { path: string[]; at: number }[] = []): { path: string[]; at: number }[] {
  if (e.kind === 'ref') out.push({ path: e.path, at: e.at })
  else if (e.kind === 'not') refsOf(e.arg, out)
  else if (e.kind === 'bin') {
    refsOf(e.left, out)
    refsOf(e.right, out)
  }
  return out
}

/** Whether the expression calls success(), failure() or always() (else `if` means `success() && …`). */
export function callsStatusFn(e: Expr): boolean {
  if (e.kind === 'call') return true
  if (e.kind === 'not') return callsStatusFn(e.arg)
  if (e.kind === 'bin') return callsStatusFn(e.left) || callsStatusFn(e.right)
  return false
}

/** What an evaluation can see: references, and whether an earlier step failed the run. */
export interface EvalScope {
  /** The value of a reference; throws ExprError for one that is not set. */
  ref(path: string[], at: number): unknown
  failed: boolean
}

export function truthy(v: unknown): boolean {
  return !(v === false || v === null || v === undefined || v === '' || v === 0 || Number.isNaN(v))
}

function equal(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) return JSON.stringify(a) === JSON.stringify(b)
  return false
}

export function evaluate(e: Expr, scope: EvalScope): unknown {
  switch (e.kind) {
    case 'lit':
      return e.value
    case 'ref':
      return scope.ref(e.path, e.at)
    case 'call':
      return e.fn === 'always' ? true : e.fn === 'failure' ? scope.failed : !scope.failed
    case 'not':
      return !truthy(evaluate(e.arg, scope))
    case 'bin': {
      if (e.op === '&&') {
        const l = evaluate(e.left, scope)
        return truthy(l) ? evaluate(e.right, scope) : l
      }
      if (e.op === '||') {
        const l = evaluate(e.left, scope)
        return truthy(l) ? l : evaluate(e.right, scope)
      }
      const same = equal(evaluate(e.left, scope), evaluate(e.right, scope))
      return e.op === '==' ? same : !same
    }
  }
}

/** A string with `${{ … }}` parts: literal text and expressions (with the offset of each expression's text). */
export interface Template {
  parts: (string | { expr: Expr; at: number })[]
  /** The string is one `${{ … }}` and nothing else: it evaluates to the value itself (a number stays a number). */
  whole: boolean
}

/** Parses a string's `${{ … }}` parts; undefined when it has none. Errors carry offsets into `s`. */
export function parseTemplate(s: string): Template | undefined {
  let start = s.indexOf('${{')
  if (start < 0) return undefined
  const parts: Template['parts'] = []
  let last = 0
  while (start >= 0) {
    if (start > last) parts.push(s.slice(last, start))
    // The end is the first `}}` outside a string literal.
    let i = start + 3
    let quote = ''
    while (i < s.length) {
      const c = s[i]!
      if (quote) {
        if (c === quote) quote = ''
      } else if (c === "'" || c === '"') quote = c
      else if (c === '}' && s[i + 1] === '}') break
      i++
    }
    if (i >= s.length) throw new ExprError('${{ is not closed with }}', start)
    const text = s.slice(start + 3, i)
    try {
      parts.push({ expr: parseExpr(text), at: start + 3 })
    } catch (err) {
      if (err instanceof ExprError) throw new ExprError(err.message, start + 3 + err.offset)
      throw err
    }
    last = i + 2
    start = s.indexOf('${{', last)
  }
  if (last < s.length) parts.push(s.slice(last))
  return { parts, whole: parts.length === 1 && typeof parts[0] !== 'string' }
}

/** A template's value: the expression's own value when whole, else the text with each value in it. */
export function renderTemplate(t: Template, scope: EvalScope): unknown {
  if (t.whole) {
    const p = t.parts[0] as { expr: Expr }
    return evaluate(p.expr, scope)
  }
  let out = ''
  for (const p of t.parts) {
    if (typeof p === 'string') out += p
    else {
      const v = evaluate(p.expr, scope)
      out += typeof v === 'string' ? v : v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
    }
  }
  return out
}
