/** @module data/source-url — parse a source's postgresql:// URL once; hand it to pg (client config) and libpq tools (env). */
import type pg from 'pg'
import { AppError } from '../core/errors.js'

export interface SourceConn {
  /** TCP host name/address, or a Unix socket directory (starts with /). */
  host: string
  port: number
  database: string
  user: string
  password: string | undefined
  sslmode: string | undefined
}

/** Parses `postgres[ql]://user:pass@host:port/db?sslmode=…&host=/socket/dir`; invalid_request naming the problem. */
export function parseSourceUrl(url: string): SourceConn {
  const bad = (why: string) => new AppError('invalid_request', `url: ${why} (got ${JSON.stringify(redactUrl(url))}); use postgresql://user:password@host:5432/dbname`, [{ path: 'url', message: why }])
  if (!/^postgres(ql)?:\/\//.test(url)) throw bad('not a postgresql:// URL')
  // WHATWG URL rejects an empty host (postgresql://u@/db?host=/run/postgresql): parse with a placeholder.
  const hostless = /^postgres(ql)?:\/\/([^@/]*@)?\//.test(url)
  let u: URL
  try {
    u = new URL(hostless ? url.replace(/^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)\//, '$1placeholder/') : url)
  } catch {
    throw bad('not a valid URL')
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''))
  if (!database) throw bad('the database name is missing')
  const qHost = u.searchParams.get('host') ?? undefined
  const host = qHost ?? (hostless ? undefined : u.hostname.replace(/^\[(.*)\]$/, '$1'))
  if (!host) throw bad('the host is missing')
  const port = u.port ? Number(u.port) : Number(u.searchParams.get('port') ?? 5432)
  if (!Number.isInteger(port) || port < 1 || port > 65_535) throw bad('the port must be 1–65535')
  for (const k of u.searchParams.keys()) {
    if (!['host', 'port', 'sslmode', 'application_name', 'connect_timeout'].includes(k)) throw bad(`unsupported parameter ${k}`)
  }
  return {
    host,
    port,
    database,
    user: decodeURIComponent(u.username) || 'postgres',
    password: u.password ? decodeURIComponent(u.password) : undefined,
    sslmode: u.searchParams.get('sslmode') ?? undefined,
  }
}

/** The URL with its password replaced by ***, safe to show and log. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:@/]*:)([^@/]*)@/, '$1***@')
}

export function pgClientConfig(c: SourceConn): pg.ClientConfig {
  const ssl = c.sslmode && !['disable', 'allow', 'prefer'].includes(c.sslmode) ? { rejectUnauthorized: c.sslmode === 'verify-full' || c.sslmode === 'verify-ca' } : undefined
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(ssl ? { ssl } : {}),
    connectionTimeoutMillis: 10_000,
    application_name: 'tidepool-mirror',
  }
}

/** Environment for pg_dump/psql: credentials travel in the environment, never in argv (visible in ps). */
export function libpqEnv(c: SourceConn): Record<string, string> {
  return {
    PGHOST: c.host,
    PGPORT: String(c.port),
    PGDATABASE: c.database,
    PGUSER: c.user,
    ...(c.password !== undefined ? { PGPASSWORD: c.password } : {}),
    PGSSLMODE: c.sslmode ?? 'prefer',
    PGAPPNAME: 'tidepool-mirror',
    PGCONNECT_TIMEOUT: '10',
    PGCLIENTENCODING: 'UTF8',
  }
}
