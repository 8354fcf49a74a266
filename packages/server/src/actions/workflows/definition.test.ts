import { describe, expect, it } from 'vitest'
import { builtinActions } from '../catalog.js'
import { compileWorkflow } from './definition.js'
import { WorkflowSourceError, type SourceIssue } from './yaml-source.js'

const issuesOf = (text: string, hasSandbox = true): SourceIssue[] => {
  try {
    compileWorkflow(text, builtinActions, { hasSandbox })
  } catch (err) {
    if (err instanceof WorkflowSourceError) return err.issues
    throw err
  }
  throw new Error('the workflow compiled')
}

const ok = `name: smoke
inputs:
  want:
    type: number
    default: 200
steps:
  - id: get
    uses: exec
    with:
      cmd: [echo, hi]
  - id: check
    if: steps.get.ok
    uses: assert.equals
    with:
      actual: \${{ steps.get.outputs.exitCode }}
      expected: 0
  - id: cleanup
    if: \${{ failure() }}
    uses: exec
    with: { cmd: 'echo \${{ inputs.want }}' }
`

describe('compileWorkflow', () => {
  it('compiles a valid workflow: actions, parsed templates, implied success() in if', () => {
    const wf = compileWorkflow(ok, builtinActions, { hasSandbox: true })
    expect(wf.name).toBe('smoke')
    expect(wf.steps.map((s) => [s.id, s.uses, s.onFailure, s.ifImpliesSuccess])).toEqual([
      ['get', 'exec', 'fail', true],
      ['check', 'assert.equals', 'fail', true],
      ['cleanup', 'exec', 'fail', false],
    ])
    expect(wf.steps[1]!.with.k).toBe('obj')
    expect(wf.steps[0]!.with.k).toBe('lit')
  })

  it('reports YAML syntax errors with line and column', () => {
    const issues = issuesOf('name: x\nsteps:\n  - id: a\n    uses: [exec\n')
    expect(issues[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number) })
    expect(issues[0]!.line).toBeGreaterThanOrEqual(4)
    expect(issuesOf('name: x\nname: y\nsteps: []\n')[0]).toMatchObject({ line: 2, column: 1, message: expect.stringContaining('unique') })
  })

  it('reports schema errors at the node: unknown key, wrong type, bad on_failure', () => {
    const issues = issuesOf('name: x\nsteps:\n  - id: a\n    uses: exec\n    with: { cmd: [true] }\n    on_failure: retry\n    retries: 3\n')
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'steps[0].on_failure', line: 6, column: 17 }),
        expect.objectContaining({ path: 'steps[0]', line: 3, column: 5, message: expect.stringContaining('retries') }),
      ]),
    )
  })

  it('reports an unknown action, an action needing a sandbox, and a duplicate id where they are written', () => {
    const text = 'name: x\nsteps:\n  - id: a\n    uses: http.fetch\n  - id: a\n    uses: wait.for\n    with: { port: 80 }\n'
    const issues = issuesOf(text, false).filter((i) => !i.path.startsWith('steps[1].with'))
    expect(issues).toEqual([
      { path: 'steps[0].uses', message: 'unknown action http.fetch; GET /v1/actions lists them', line: 4, column: 11 },
      { path: 'steps[1].id', message: 'step id a is used twice; step ids are unique', line: 5, column: 9 },
      expect.objectContaining({ path: 'steps[1].uses', line: 6, column: 11, message: expect.stringContaining('sandboxId') }),
    ])
  })

  it("checks with against the action's input, except values only known when the step runs", () => {
    const text = 'name: x\nsteps:\n  - id: a\n    uses: http.request\n    with:\n      port: "80"\n      path: ${{ inputs.p }}\n      method: FETCH\ninputs:\n  p: {}\n'
    const issues = issuesOf(text)
    expect(issues.map((i) => [i.path, i.line, i.column]).sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual([
      ['steps[0].with.port', 6, 13],
      ['steps[0].with.method', 8, 15],
    ])
    expect(issues[0]!.message).toMatch(/^http\.request: /)
  })

  it('reports bad references at the character: unknown input, later step, unknown field', () => {
    const text = [
      'name: x',
      'steps:',
      '  - id: a',
      '    uses: assert.equals',
      "    with: { actual: '${{ inputs.nope }}', expected: '${{ steps.b.outputs.x }}' }",
      '  - id: b',
      '    uses: assert.equals',
      '    if: steps.a.result == 1',
      '    with: { actual: 1, expected: "x ${{ steps.a.outputs.equal == }}" }',
      '',
    ].join('\n')
    const issues = issuesOf(text)
    expect(issues).toEqual([
      { path: 'steps[0].with.actual', message: 'inputs.nope: no input nope is declared under inputs', line: 5, column: 26 },
      { path: 'steps[0].with.expected', message: 'steps.b.outputs.x: b is not the id of an earlier step (a step sees only the steps before it)', line: 5, column: 58 },
      { path: 'steps[1].with.expected', message: 'the expression ends too early', line: 9, column: 66 },
      { path: 'steps[1].if', message: 'steps.a.result: a step has outputs.<name>, outcome and ok', line: 8, column: 9 },
    ])
  })

  it('refuses aliases and prototype keys', () => {
    expect(issuesOf('name: &n x\nsteps:\n  - id: a\n    uses: exec\n    with: { cmd: [*n] }\n')[0]).toMatchObject({ message: expect.stringContaining('aliases'), line: 5, column: 19 })
    expect(issuesOf('name: x\nsteps:\n  - id: a\n    uses: assert.equals\n    with: { __proto__: 1, actual: 1, expected: 1 }\n')[0]).toMatchObject({
      path: 'steps[0].with.__proto__',
      line: 5,
      column: 13,
    })
  })

  it('refuses a default of the wrong type', () => {
    expect(issuesOf('name: x\ninputs:\n  n: { type: number, default: "7" }\nsteps:\n  - id: a\n    uses: assert.equals\n    with: { actual: 1, expected: 1 }\n')).toEqual([
      expect.objectContaining({ path: 'inputs.n.default', line: 3, column: 31 }),
    ])
  })
})
