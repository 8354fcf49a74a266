/** @module cli/commands/audit-verify — `audit verify` (through the API or --offline) and `audit key`. */
import { existsSync } from 'node:fs'
import { auditPaths } from '../../audit/config.js'
import type { VerifyReport } from '../../audit/verify.js'
import { storeUrlOf, type Config } from '../../config.js'
import type { CliCommand } from '../command.js'

type Report = Pick<VerifyReport, 'ok' | 'records' | 'problems'> & Partial<Omit<VerifyReport, 'ok' | 'records' | 'problems'>>

export function auditLocalCommands(config: () => Config): CliCommand[] {
  return [
    {
      words: ['audit', 'verify'],
      summary: 'Verify the audit hash chain, its signed checkpoints and the signed head (through the API; --offline reads the store directly, with the server stopped)',
      usage: '[--offline] [--key <public key>] [--json]',
      options: { json: { type: 'boolean' }, offline: { type: 'boolean' }, key: { type: 'string' } },
      async run({ values, api, io }) {
        const { verifierOf, readSigningKey } = await import('../../audit/signing-key.js')
        const pinned = typeof values.key === 'string' ? verifierOf(values.key) : undefined
        let result: Report
        if (values.offline) {
          const [{ openStore }, { verifyAuditLog }] = await Promise.all([import('../../store/db.js'), import('../../audit/verify.js')])
          const cfg = config()
          const paths = auditPaths(cfg.home, cfg.audit)
          // Offline never makes a key: without one (a store from before signing) only the chain is checked.
          const key = pinned ?? (existsSync(paths.keyFile) ? readSigningKey(paths.keyFile) : undefined)
          const store = await openStore(storeUrlOf(cfg))
          try {
            result = await verifyAuditLog(store.db, { key, headFile: paths.headFile })
          } finally {
            await store.close()
          }
        } else {
          result = await (await api()).verifyAudit({})
          if (pinned && result.key?.id !== pinned.id) {
            result = {
              ...result,
              ok: false,
              problems: [...result.problems, { seq: 0, problem: `the server signs with key ${result.key?.id ?? '(none)'}, not the pinned key ${pinned.id}: the signing key was replaced` }],
            }
          }
        }
        io.print(result, () => describe(result))
        return result.ok ? 0 : 1
      },
    },
    {
      words: ['audit', 'key'],
      summary: "Print the audit signing key's id and public key (read from this host's key file), to pin with `audit verify --key`",
      usage: '[--json]',
      options: { json: { type: 'boolean' } },
      async run({ io }) {
        const { readSigningKey } = await import('../../audit/signing-key.js')
        const cfg = config()
        const { keyFile } = auditPaths(cfg.home, cfg.audit)
        if (!existsSync(keyFile)) {
          const { AppError } = await import('../../core/errors.js')
          throw new AppError('not_found', `no audit signing key at ${keyFile}: the server makes it on first start (set audit.signingKeyFile if it lives elsewhere)`)
        }
        const key = readSigningKey(keyFile)
        const out = { id: key.id, publicKey: key.publicKey, algorithm: 'Ed25519', file: keyFile }
        io.print(out, () => `Ed25519 key ${key.id}\npublic key ${key.publicKey}\n(file ${keyFile}; pin it: tidepool audit verify --key ${key.publicKey})`)
        return 0
      },
    },
  ]
}

function describe(r: Report): string {
  const checked = [
    `${r.records} records`,
    r.checkpoints !== undefined ? `${r.checkpoints} signed checkpoint(s)` : undefined,
    r.head ? `head at seq ${r.head.seq} (${r.head.at})` : r.headState && r.headState !== 'ok' ? `head ${r.headState.replace('_', ' ')}` : undefined,
    r.key ? `key ${r.key.id}` : 'no signing key (chain only)',
  ].filter(Boolean)
  const tail = r.unsignedTail ? `; ${r.unsignedTail} record(s) after seq ${r.signedThrough ?? 0} are not signed yet (chain only)` : ''
  if (r.ok) return `audit log OK: checked ${checked.join(', ')}; hash chain intact${r.key ? `, signed through seq ${r.signedThrough ?? 0}` : ''}${tail}`
  return [`audit log BROKEN: ${r.problems.length} problem(s); checked ${checked.join(', ')}`, ...r.problems.map((p) => `  seq ${p.seq}: ${p.problem}`)].join('\n')
}
