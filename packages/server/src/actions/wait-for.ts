/**
 * @module actions/wait-for — `wait.for`: poll a condition inside the sandbox with backoff until it holds
 * or the deadline passes. Probes are tiny commands: /proc/net/tcp* for a listening port (no tool needed),
 * bash's /dev/tcp for an HTTP status, grep -F (linear) for a log line.
 */
import { z } from 'zod'
import { defineAction, type ActionEnv } from './action.js'

const firstDelayMs = 50
const maxDelayMs = 1_000

const Port = z.number().int().min(1).max(65_535)
const Condition = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('port'), port: Port.describe('A TCP port something inside the sandbox listens on.') }).strict(),
  z
    .object({
      kind: z.literal('http'),
      port: Port,
      path: z
        .string()
        .max(2048)
        .startsWith('/')
        .default('/')
        .refine((p) => !/[\s\0]/.test(p), 'path must not contain whitespace or NUL'),
      status: z.number().int().min(100).max(599).default(200).describe('The status wanted.'),
    })
    .strict(),
  z.object({ kind: z.literal('log'), file: z.string().max(4096).startsWith('/'), contains: z.string().min(1).max(4096).describe('Plain text (not a pattern) a line must contain.') }).strict(),
])

export const waitFor = defineAction({
  name: 'wait.for',
  summary: 'Wait until a port listens, an HTTP endpoint (inside the sandbox, on 127.0.0.1) answers a status, or a log file has a line; backoff, deadline',
  needsSandbox: true,
  readOnly: true,
  // As long as the input may ask for: the wait's own timeoutMs (default 30 s) is the usual bound.
  timeoutMs: 600_000,
  input: z.object({ condition: Condition, timeoutMs: z.number().int().min(1).max(600_000).default(30_000).describe('Give up after this long.') }).strict(),
  output: z.object({ met: z.boolean(), condition: z.string().describe('What was waited for, in words.') }),
  run: async (i, env) => {
    const deadline = Math.min(i.timeoutMs, env.remainingMs())
    const started = performance.now()
    const c = i.condition
    const what = c.kind === 'port' ? `port ${c.port} listening` : c.kind === 'http' ? `GET http://127.0.0.1:${c.port}${c.path} answers ${c.status}` : `${c.file} contains ${JSON.stringify(c.contains)}`
    for (let delay = firstDelayMs; ; delay = Math.min(delay * 2, maxDelayMs)) {
      if (await probe(c, env)) return { ok: true, output: { met: true, condition: what } }
      const left = deadline - (performance.now() - started)
      if (left <= 0 || env.signal.aborted) return { ok: false, output: { met: false, condition: what } }
      await env.sleep(Math.min(delay, left))
    }
  },
})

type Cond = z.output<typeof Condition>

async function probe(c: Cond, env: ActionEnv): Promise<boolean> {
  if (c.kind === 'port') {
    const r = await env.exec({ cmd: ['cat', '/proc/net/tcp', '/proc/net/tcp6'], timeoutMs: 5_000 })
    return listens(r.stdout, c.port)
  }
  if (c.kind === 'http') {
    // Values reach bash as positional arguments, never inside the script text.
    const script = 'exec 3<>/dev/tcp/127.0.0.1/"$1" || exit 1; printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" "$2" >&3; head -n 1 <&3'
    const r = await env.exec({ cmd: ['bash', '-c', script, 'probe', String(c.port), c.path], timeoutMs: 5_000 })
    return r.exitCode === 0 && statusOf(r.stdout) === c.status
  }
  const r = await env.exec({ cmd: ['grep', '-q', '-F', '--', c.contains, c.file], timeoutMs: 5_000 })
  return r.exitCode === 0
}

/** Whether /proc/net/tcp{,6} text has a socket in LISTEN state (0A) on `port`. */
export function listens(procNetTcp: string, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of procNetTcp.split('\n')) {
    const f = line.trim().split(/\s+/)
    if (f.length > 3 && f[1]?.endsWith(`:${hex}`) && f[3] === '0A') return true
  }
  return false
}

/** The status code of an HTTP status line (`HTTP/1.1 200 OK`), or undefined. */
export function statusOf(statusLine: string): number | undefined {
  const parts = statusLine.split(' ')
  if (!parts[0]?.startsWith('HTTP/')) return undefined
  const n = Number(parts[1])
  return Number.isInteger(n) ? n : undefined
}
