/** @module cli/commands/policy — `policy validate` and `policy check` (local, no server), `policy show` and `policy reload` (through the API). */
import { resolve } from 'node:path'
import { operations, scopes as allScopes, type OpName, type Principal, type Scope } from '@tidepool/sdk'
import type { Config } from '../../config.js'
import { AppError } from '../../core/errors.js'
import type { CliCommand } from '../command.js'

const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [])

/** The built-in actions' facts, loaded only by the commands that need them. */
async function actionFacts() {
  const { builtinActions } = await import('../../actions/catalog.js')
  return [...builtinActions.values()]
}

export function policyCommands(config: () => Config): CliCommand[] {
  return [
    {
      words: ['policy', 'validate'],
      summary: 'Parse Cedar policy files and validate them against tidepool’s schema (local, no server); problems name file:line:column',
      usage: '<file...> [--json]',
      options: { json: { type: 'boolean' } },
      async run({ positionals, io, cwd }) {
        if (positionals.length === 0) throw new AppError('invalid_request', 'name at least one policy file: tidepool policy validate <file...>')
        const [{ cedarSchema }, { loadPolicies, readSources }] = await Promise.all([import('../../policy/schema.js'), import('../../policy/load.js')])
        const sources = readSources(positionals.map((f) => resolve(cwd, f)))
        const schema = cedarSchema(await actionFacts())
        let result: { ok: boolean; files: string[]; policies: string[]; problems: string[] }
        try {
          const loaded = loadPolicies(sources, schema)
          result = { ok: true, files: loaded.files, policies: loaded.ids, problems: [] }
        } catch (err) {
          if (!(err instanceof AppError)) throw err
          result = { ok: false, files: sources.map((s) => s.file), policies: [], problems: (err.details as { message: string }[]).map((d) => d.message) }
        }
        io.print(result, () => (result.ok ? `valid: ${result.policies.length} policies (${result.policies.join(', ')})` : result.problems.join('\n')))
        return result.ok ? 0 : 1
      },
    },
    {
      words: ['policy', 'check'],
      summary:
        'Decide one call locally under the given policy files (default: the config’s policy.files, else the built-in default): exit 0 allow, 1 deny. --action is an operation name or action:<name> (a runAction)',
      usage: '--action <op|action:name> [--scopes a,b] [--name "agent run=r1"] [--project p] [--sandbox <id> [--label k=v]... [--state s]] [--policy <file>]... [--json]',
      options: {
        json: { type: 'boolean' },
        action: { type: 'string' },
        scopes: { type: 'string' },
        name: { type: 'string' },
        project: { type: 'string' },
        sandbox: { type: 'string' },
        label: { type: 'string', multiple: true },
        state: { type: 'string' },
        policy: { type: 'string', multiple: true },
      },
      async run({ values, io, cwd }) {
        const action = typeof values.action === 'string' ? values.action : ''
        const isAction = action.startsWith('action:')
        const op = (isAction ? 'runAction' : action) as OpName
        if (!(op in operations)) throw new AppError('invalid_request', `--action: ${JSON.stringify(action)} is neither an operation name nor action:<name>`)
        const scopes = (typeof values.scopes === 'string' ? values.scopes.split(',').filter(Boolean) : []) as Scope[]
        const bad = scopes.filter((s) => !allScopes.includes(s))
        if (bad.length > 0) throw new AppError('invalid_request', `--scopes: unknown scope(s) ${bad.join(', ')} (known: ${allScopes.join(', ')})`)
        const labels: Record<string, string> = Object.create(null) as Record<string, string>
        for (const l of list(values.label)) {
          const eq = l.indexOf('=')
          if (eq <= 0) throw new AppError('invalid_request', `--label: ${JSON.stringify(l)} is not key=value`)
          labels[l.slice(0, eq)] = l.slice(eq + 1)
        }
        const project = typeof values.project === 'string' ? values.project : 'default'
        const principal: Principal = { tokenId: 'tok_cli_check', name: typeof values.name === 'string' ? values.name : 'token', project, scopes }
        const sandbox = typeof values.sandbox === 'string' ? values.sandbox : undefined
        const input: Record<string, unknown> = isAction ? { name: action.slice('action:'.length), sandboxId: sandbox } : { id: sandbox, sandboxId: sandbox }
        const files = list(values.policy).length > 0 ? list(values.policy).map((f) => resolve(cwd, f)) : config().policy.files.map((f) => resolve(cwd, f))
        const [{ PolicyEngine }, { callRequest }] = await Promise.all([import('../../policy/engine.js'), import('../../policy/call.js')])
        const facts = await actionFacts()
        const engine = new PolicyEngine({ files, actions: facts, cacheSize: 0 })
        const state = typeof values.state === 'string' ? values.state : 'running'
        const req = await callRequest(principal, op, input, { actions: new Map(facts.map((a) => [a.name, a])), lookup: async () => ({ project, state, labels }), readsResource: true })
        const d = engine.decide(principal, req.action, req.resource, req.context)
        const result = { decision: d.allow ? 'allow' : 'deny', policies: d.policies, errors: d.errors, request: { principal, action: req.action, resource: req.resource, context: req.context } }
        io.print(result, () => `${result.decision}${d.policies.length ? ` (${d.allow ? 'permitted' : 'forbidden'} by ${d.policies.join(', ')})` : d.allow ? '' : ' (no policy permits it)'}`)
        return d.allow ? 0 : 1
      },
    },
    {
      words: ['policy', 'show'],
      summary: 'The policy set the server has in force (admin)',
      usage: '[--json]',
      options: { json: { type: 'boolean' } },
      async run({ api, io }) {
        const s = await (await api()).getPolicy({})
        io.print(s, () => `version ${s.version}, loaded ${s.loadedAt}\nfiles: ${s.files.join(', ')}\npolicies: ${s.policies.join(', ')}`)
        return 0
      },
    },
    {
      words: ['policy', 'reload'],
      summary: 'Have the server read its policy files again (admin); an invalid set is refused and the old one stays in force',
      usage: '[--json]',
      options: { json: { type: 'boolean' } },
      async run({ api, io }) {
        const s = await (await api()).reloadPolicy({})
        io.print(s, () => `reloaded: version ${s.version}, ${s.policies.length} policies (${s.policies.join(', ')})`)
        return 0
      },
    },
  ]
}
