/** @module data/binder — how a clone reaches one sandbox: its socket dir mounted there, and connection env vars. */

/** Where a bound clone's socket dir appears inside the sandbox (libpq's default socket dir on Debian). */
export const SANDBOX_SOCKET_DIR = '/run/postgresql'

export interface SandboxBinding {
  /** Host directory holding the clone's Unix socket (only this clone's). */
  socketDir: string
  /** Mount point inside the sandbox. */
  target: string
  /** DATABASE_URL and the PG* variables, pointing at `target`. */
  envs: Record<string, string>
}

/**
 * Implemented over the sandboxes area by the composition root: bind mounts `socketDir` at `target` inside that
 * sandbox alone and adds `envs` to what its commands get; unbind reverses both (idempotent).
 */
export interface SandboxBinder {
  /** The sandbox's state (`running`, `paused`, `stopped`, …), or undefined when the project has no such sandbox. */
  state(project: string, sandboxId: string): Promise<string | undefined>
  bind(project: string, sandboxId: string, binding: SandboxBinding): Promise<void>
  unbind(project: string, sandboxId: string, binding: SandboxBinding): Promise<void>
}

/** The env vars a sandbox gets for a clone (passwords are in envs: never log them). */
export function bindingEnvs(c: { user: string; password: string; database: string; port: number }, target = SANDBOX_SOCKET_DIR): Record<string, string> {
  const db = encodeURIComponent(c.database)
  return {
    DATABASE_URL: `postgresql://${encodeURIComponent(c.user)}:${encodeURIComponent(c.password)}@localhost/${db}?host=${encodeURIComponent(target)}&port=${c.port}`,
    PGHOST: target,
    PGPORT: String(c.port),
    PGUSER: c.user,
    PGPASSWORD: c.password,
    PGDATABASE: c.database,
  }
}
