import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../config.js'
import type { CliCommand, CliIo } from '../command.js'
import { policyCommands } from './policy.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-cli-policy-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const example = fileURLToPath(new URL('../../../../../examples/policy/agent-run.cedar', import.meta.url))
const commands = policyCommands(() => loadConfig({ env: {}, overrides: { home: dir } }))

async function run(words: string, args: string[]) {
  const command = commands.find((c) => c.words.join(' ') === words) as CliCommand
  const { values, positionals } = parseArgs({ args, options: command.options, allowPositionals: true, strict: true })
  const out: string[] = []
  const json = Boolean(values.json)
  const io: CliIo = { json, out: (x) => void out.push(x), info: () => {}, print: (v, human) => void out.push(json ? JSON.stringify(v) : human()) }
  const code = await command.run({ values: values as never, positionals, api: () => Promise.reject(new Error('no server')), io, cwd: dir })
  return { code, out: out.join('\n') }
}

describe('tidepool policy validate', () => {
  it('accepts the example, naming its policies', async () => {
    expect(await run('policy validate', [example])).toEqual({ code: 0, out: 'valid: 5 policies (admin, scopes, agent-read-only, agent-exec-own-run, agent-exec-only-in-own-run)' })
  })
  it('names file, line and column of each problem, and exits 1', async () => {
    writeFileSync(join(dir, 'bad.cedar'), 'permit (principal, action, resource)\n  when { context.nope };\n')
    const r = await run('policy validate', ['bad.cedar', '--json'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.out)).toMatchObject({ ok: false, problems: [expect.stringMatching(new RegExp(`^${join(dir, 'bad.cedar')}:2:10: .*nope`))] })
  })
})

describe('tidepool policy check', () => {
  const agent = ['--policy', example, '--name', 'agent-7 run=r1', '--scopes', 'sandboxes:read,sandboxes:write', '--sandbox', 'sbx_1']
  it('allows exec in the run’s own sandbox and names the permit', async () => {
    const r = await run('policy check', ['--action', 'exec', ...agent, '--label', 'run=r1', '--json'])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.out)).toMatchObject({ decision: 'allow', policies: ['agent-exec-own-run'], request: { action: 'exec', context: { requiredScopes: ['sandboxes:write'] } } })
  })
  it('denies the exec action elsewhere, naming the forbid', async () => {
    expect(await run('policy check', ['--action', 'action:exec', ...agent, '--label', 'run=r2'])).toEqual({ code: 1, out: 'deny (forbidden by agent-exec-only-in-own-run)' })
  })
  it('under the default policy (no files configured), answers by scopes', async () => {
    expect((await run('policy check', ['--action', 'deleteSandbox', '--scopes', 'sandboxes:read', '--sandbox', 'sbx_1'])).code).toBe(1)
    expect(await run('policy check', ['--action', 'deleteSandbox', '--scopes', 'sandboxes:write', '--sandbox', 'sbx_1'])).toEqual({ code: 0, out: 'allow (permitted by scopes)' })
  })
  it('refuses an unknown action or scope', async () => {
    await expect(run('policy check', ['--action', 'nope'])).rejects.toThrow(/neither an operation name/)
    await expect(run('policy check', ['--action', 'exec', '--scopes', 'root'])).rejects.toThrow(/unknown scope\(s\) root/)
  })
})
