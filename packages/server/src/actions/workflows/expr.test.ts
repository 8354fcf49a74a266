import { describe, expect, it } from 'vitest'
import { evaluate, ExprError, parseExpr, parseTemplate, refsOf, renderTemplate, type EvalScope } from './expr.js'

const values: Record<string, unknown> = { 'inputs.name': 'web', 'inputs.port': 8080, 'steps.get.outputs.status': 200, 'steps.get.outputs.json': { a: [1, 2] } }
const scope = (failed = false): EvalScope => ({
  failed,
  ref: (path, at) => {
    const k = path.join('.')
    if (!(k in values)) throw new ExprError(`${k} is not set`, at)
    return values[k]
  },
})
const ev = (src: string, failed = false) => evaluate(parseExpr(src), scope(failed))

describe('expressions', () => {
  it('evaluates references, literals, comparisons and logic', () => {
    expect(ev('inputs.name')).toBe('web')
    expect(ev("inputs.name == 'web'")).toBe(true)
    expect(ev("inputs.name != 'web'")).toBe(false)
    expect(ev('steps.get.outputs.status == 200 && inputs.port == 8080')).toBe(true)
    expect(ev("!(inputs.name == 'api') || false")).toBe(true)
    expect(ev("'it''s'")).toBe("it's")
    expect(ev('null')).toBe(null)
    expect(ev('-1.5')).toBe(-1.5)
    // && and || give an operand, as in JavaScript and GitHub Actions.
    expect(ev("steps.get.outputs.status == 500 && 'x'")).toBe(false)
    expect(() => ev('inputs.nope')).toThrow('inputs.nope is not set')
    expect(ev("false || 'fallback'")).toBe('fallback')
  })

  it('has success(), failure() and always()', () => {
    expect(ev('success()')).toBe(true)
    expect(ev('success()', true)).toBe(false)
    expect(ev('failure()', true)).toBe(true)
    expect(ev('always()', true)).toBe(true)
  })

  it('reports syntax errors at their offset', () => {
    const at = (src: string) => {
      try {
        parseExpr(src)
      } catch (err) {
        return [(err as ExprError).offset, (err as Error).message]
      }
      return undefined
    }
    expect(at("inputs.name == 'web")).toEqual([15, 'a string literal is not closed'])
    expect(at('inputs.name ==')).toEqual([14, 'the expression ends too early'])
    expect(at('inputs.name # x')).toEqual([12, 'unexpected character "#"'])
    expect(at('succes()')).toEqual([0, 'unknown function succes(); there are success(), failure() and always()'])
    expect(at('(a')).toEqual([2, 'expected )'])
    expect(at('a b')?.[0]).toBe(2)
    expect(at('x'.repeat(1025))?.[1]).toContain('at most 1024')
    expect(at(`${'!'.repeat(40)}a`)?.[1]).toContain('nests at most')
  })

  it('lists references with offsets', () => {
    expect(refsOf(parseExpr("inputs.a == steps.b.outputs.c || 'x'"))).toEqual([
      { path: ['inputs', 'a'], at: 0 },
      { path: ['steps', 'b', 'outputs', 'c'], at: 12 },
    ])
  })
})

describe('templates', () => {
  it('keeps a whole ${{ }} as its value and interpolates text', () => {
    expect(parseTemplate('no expressions')).toBeUndefined()
    expect(renderTemplate(parseTemplate('${{ inputs.port }}')!, scope())).toBe(8080)
    expect(renderTemplate(parseTemplate('${{steps.get.outputs.json}}')!, scope())).toEqual({ a: [1, 2] })
    expect(renderTemplate(parseTemplate('http://${{ inputs.name }}:${{ inputs.port }}/x')!, scope())).toBe('http://web:8080/x')
    expect(renderTemplate(parseTemplate('j=${{ steps.get.outputs.json }}')!, scope())).toBe('j={"a":[1,2]}')
  })

  it('ends an expression at the first }} outside a string literal', () => {
    expect(renderTemplate(parseTemplate("${{ '}}' }}")!, scope())).toBe('}}')
  })

  it('reports errors at offsets into the whole string', () => {
    expect(() => parseTemplate('abc ${{ inputs.name')).toThrow('${{ is not closed with }}')
    try {
      parseTemplate('abc ${{ inputs.name == }}')
    } catch (err) {
      expect((err as ExprError).offset).toBe(23)
    }
  })
})
