/**
 * @module core/child-env — the one way to build a child process's environment: an allow-list of
 * names, copied into a null-prototype object.
 *
 * Why null-prototype: `child_process.spawn` builds the environment with `for (const key in env)`,
 * which also walks inherited keys. An ordinary `{ PATH }` would hand a child whatever sits on
 * `Object.prototype` (e.g. a polluted `LD_PRELOAD`), and our host tools run as root.
 */

/** Variable names a host tool we run may receive. Anything else is a programming error. */
const allowed = new Set([
  'PATH',
  'LC_ALL',
  'LANG',
  'TZ',
  // apt-get (the peers benchmark's setup installs missing peers without prompting)
  'DEBIAN_FRONTEND',
  // npm (the same benchmark installs sandbox-runtime: the user's npmrc and the host's extra CA)
  'HOME',
  'NODE_EXTRA_CA_CERTS',
  // libpq (psql, pg_dump, initdb talk to our own servers)
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGPASSWORD',
  'PGDATABASE',
  'PGAPPNAME',
  'PGCLIENTENCODING',
  'PGCONNECT_TIMEOUT',
  'PGSSLMODE',
])

const sbin = '/usr/local/sbin:/usr/sbin:/sbin'
const fallbackPath = '/usr/local/bin:/usr/bin:/bin'

/** The server's own PATH (an own property only, never an inherited one), or a fixed default. */
export function hostPath(opts: { sbin?: boolean } = {}): string {
  const own = Object.hasOwn(process.env, 'PATH') ? process.env.PATH : undefined
  const path = own || fallbackPath
  return opts.sbin ? `${path}:${sbin}` : path
}

/**
 * A minimal environment for a child: PATH (the server's, unless given) and LC_ALL=C, plus the given
 * variables (own keys only; undefined values are left out). Throws on a name not in the allow-list.
 */
export function childEnv(vars: Readonly<Record<string, string | undefined>> = {}): NodeJS.ProcessEnv {
  const env = Object.create(null) as NodeJS.ProcessEnv
  env.PATH = hostPath()
  env.LC_ALL = 'C'
  for (const name of Object.keys(vars)) {
    if (!allowed.has(name)) throw new Error(`child environment: ${name} is not in the allow-list (core/child-env.ts); add it there if a tool truly needs it`)
    const value = vars[name]
    if (typeof value === 'string') env[name] = value
  }
  return env
}

/** The environment of an in-sandbox helper: nothing at all (it must not carry the control plane's). */
export function emptyEnv(): NodeJS.ProcessEnv {
  return Object.create(null) as NodeJS.ProcessEnv
}
