/** @module cli/commands/local — commands that run on this host without the API: doctor, config print, audit verify --offline, audit key. */
import { existsSync, accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import { printableConfig, type Config } from '../../config.js'
import type { PreflightCheck } from '../../runtime/runtime.js'
import type { CliCommand } from '../command.js'
import { auditLocalCommands } from './audit-verify.js'

const json = { json: { type: 'boolean' } } as const

export function localCommands(config: () => Config): CliCommand[] {
  return [
    {
      words: ['doctor'],
      summary: 'Check every kernel feature and privilege the local runtime needs, and how to fix what is missing',
      usage: '[--json]',
      options: json,
      async run({ io }) {
        const cfg = config()
        const checks: PreflightCheck[] = [nodeCheck(), homeCheck(cfg.home)]
        const { createRuntime } = await import('../../runtime/create-runtime.js')
        const { silentLogger } = await import('../../core/log.js')
        const runtime = await createRuntime({
          kind: cfg.runtime.kind,
          dataDir: join(cfg.home, 'runtime'),
          cgroupName: cfg.runtime.cgroupName,
          disk: { ...cfg.runtime.disk, defaultMb: cfg.defaults.diskMb },
          network: cfg.runtime.network,
          gvisor: { ...cfg.runtime.gvisor, required: cfg.runtime.defaultIsolation === 'gvisor' },
          logger: silentLogger,
        })
        checks.push(...(await runtime.preflight()))
        // An optional check (the gvisor level while the default is namespaces) warns without failing.
        const ok = checks.every((c) => c.ok || c.optional === true)
        io.print({ ok, checks }, () =>
          [
            ...checks.map((c) => `${c.ok ? 'ok  ' : c.optional ? 'WARN' : 'MISS'}  ${c.name}: ${c.detail}${!c.ok && c.fix ? `\n      fix: ${c.fix}` : ''}`),
            '',
            ok ? 'All checks passed.' : 'Some checks failed; sandboxes cannot start until they are fixed.',
          ].join('\n'),
        )
        return ok ? 0 : 69
      },
    },
    {
      words: ['config', 'print'],
      summary: 'Show the effective configuration (secrets hidden)',
      usage: '[--json]',
      options: json,
      async run({ io }) {
        const cfg = printableConfig(config())
        io.print(cfg, () => JSON.stringify(cfg, null, 2))
        return 0
      },
    },
    ...auditLocalCommands(config),
  ]
}

function nodeCheck(): PreflightCheck {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  const ok = major > 20 || (major === 20 && minor >= 19)
  return { name: 'node', ok, detail: `Node ${process.versions.node}`, fix: 'install Node 20.19 or newer (22 LTS recommended)' }
}

function homeCheck(home: string): PreflightCheck {
  try {
    if (existsSync(home)) accessSync(home, constants.W_OK)
    return { name: 'data directory', ok: true, detail: `${home} is writable (or will be created)` }
  } catch {
    return { name: 'data directory', ok: false, detail: `${home} is not writable`, fix: `set TIDEPOOL_HOME to a writable directory or fix the permissions of ${home}` }
  }
}
