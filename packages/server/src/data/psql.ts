/** @module data/psql — run psql/pg_dump with credentials in the environment, and stream rows between two servers with COPY. */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { childEnv } from '../core/child-env.js'
import { CommandError, runCommand, type CommandResult } from '../storage/run-command.js'
import type { PgBinaries } from './pg-binaries.js'
import { ADMIN_ROLE } from './pg-server.js'

export type PgEnv = Record<string, string>

const baseEnv = () => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', PGCLIENTENCODING: 'UTF8' })

/** libpq environment for the admin of a managed server (Unix socket, peer auth). */
export function adminEnv(socketDir: string, port: number, database: string): PgEnv {
  return { PGHOST: socketDir, PGPORT: String(port), PGUSER: ADMIN_ROLE, PGDATABASE: database, PGAPPNAME: 'tidepool' }
}

const psqlArgs = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-psqlrc']

/** Runs an SQL script through psql (stdin), failing with psql's error text. */
export async function psqlScript(bins: PgBinaries, env: PgEnv, script: string): Promise<CommandResult> {
  return runCommand(join(bins.dir, 'psql'), [...psqlArgs, '-f', '-'], { env: { ...baseEnv(), ...env }, input: script })
}

export async function pgDump(bins: PgBinaries, env: PgEnv, args: string[]): Promise<string> {
  return (await runCommand(join(bins.dir, 'pg_dump'), args, { env: { ...baseEnv(), ...env } })).stdout
}

/** Error text of a failed psql/pg_dump run (its stderr), for messages. */
export function toolError(err: unknown): string {
  if (err instanceof CommandError)
    return (
      err.result.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^\s*$/.test(l))
        .slice(-3)
        .join(' ') || err.message
    )
  return (err as Error).message ?? String(err)
}

export interface CopyPipe {
  bins: PgBinaries
  /** Source side: a script whose output is COPY … TO STDOUT rows. */
  sourceEnv: PgEnv
  sourceScript: string
  /** Target side: commands run in order in one session, one of them COPY <table> (<columns>) FROM STDIN. */
  targetEnv: PgEnv
  targetCommands: string[]
  /** Each row (a COPY text line) in; the line to write out, or undefined to drop it. Absent: bytes pass through as they are. */
  take?: ((line: string) => string | undefined) | undefined
  onRows?: (n: number) => void
}

export class CopyFailed extends Error {
  constructor(
    readonly side: 'source' | 'target',
    readonly stderr: string,
  ) {
    super(`${side}: ${stderr.trim().split('\n').slice(-3).join(' ') || 'failed'}`)
    this.name = 'CopyFailed'
  }
}

/** Streams rows from the source to the target through `take`, with backpressure. Resolves to rows written. */
export async function copyRows(o: CopyPipe): Promise<number> {
  const env = baseEnv()
  const src = spawn(join(o.bins.dir, 'psql'), [...psqlArgs, '-f', '-'], { env: childEnv({ ...env, ...o.sourceEnv }), stdio: ['pipe', 'pipe', 'pipe'] })
  const dst = spawn(join(o.bins.dir, 'psql'), [...psqlArgs, ...o.targetCommands.flatMap((c) => ['-c', c])], { env: childEnv({ ...env, ...o.targetEnv }), stdio: ['pipe', 'ignore', 'pipe'] })
  const srcErr: Buffer[] = []
  const dstErr: Buffer[] = []
  src.stderr.on('data', (b: Buffer) => srcErr.push(b))
  dst.stderr.on('data', (b: Buffer) => dstErr.push(b))
  const srcExit = once(src, 'close') as Promise<[number | null]>
  const dstExit = once(dst, 'close') as Promise<[number | null]>
  src.stdin.on('error', () => undefined)
  dst.stdin.on('error', () => undefined)
  src.stdin.end(o.sourceScript)
  let written = 0
  let dstDead = false
  dst.once('close', () => (dstDead = true))
  try {
    const take = o.take
    if (!take) {
      // Pass-through: whole chunks, rows counted by their newlines.
      for await (const chunk of src.stdout as AsyncIterable<Buffer>) {
        if (dstDead) break
        let n = 0
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) n++
        written += n
        if (!dst.stdin.write(chunk)) await Promise.race([once(dst.stdin, 'drain'), dstExit])
        o.onRows?.(written)
      }
      return await finish()
    }
    const decoder = new StringDecoder('utf8')
    let rest = ''
    const flush = async (lines: string[]) => {
      let out = ''
      for (const line of lines) {
        const r = take(line)
        if (r !== undefined) {
          out += `${r}\n`
          written++
        }
      }
      if (out && !dstDead && !dst.stdin.write(out)) await Promise.race([once(dst.stdin, 'drain'), dstExit])
      if (lines.length) o.onRows?.(written)
    }
    for await (const chunk of src.stdout as AsyncIterable<Buffer>) {
      if (dstDead) break
      const text = rest + decoder.write(chunk)
      const lines = text.split('\n')
      rest = lines.pop()!
      await flush(lines)
    }
    rest += decoder.end()
    if (rest) await flush([rest])
  } finally {
    dst.stdin.end()
  }
  return finish()

  async function finish(): Promise<number> {
    dst.stdin.end()
    if (dstDead) src.kill('SIGTERM')
    const [[srcCode], [dstCode]] = await Promise.all([srcExit, dstExit])
    if (dstCode !== 0) throw new CopyFailed('target', Buffer.concat(dstErr).toString('utf8'))
    if (srcCode !== 0) throw new CopyFailed('source', Buffer.concat(srcErr).toString('utf8'))
    return written
  }
}
