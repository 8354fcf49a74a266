/**
 * @module actions/http-request — `http.request`: one HTTP/1.0 request from inside the sandbox's network
 * view to a port on its own loopback (a service the agent started there). bash's /dev/tcp sends it, so no
 * HTTP client is needed in the template. Reaching other hosts needs egress (issue #11), and an
 * environment's routed URL needs routing: both are refused for now rather than half-done.
 * Deterministic output: status, headers sorted by name without `date`, body as text (and parsed JSON).
 */
import { z } from 'zod'
import { AppError } from '../core/errors.js'
import { defineAction } from './action.js'
import { byCodeUnits } from './stable.js'

const maxBodyChars = 64 * 1024
const maxResponseBytes = 1024 * 1024
const noLineBreak = (s: string) => !s.includes('\r') && !s.includes('\n') && !s.includes('\0')
const HeaderName = z
  .string()
  .min(1)
  .max(128)
  .refine((s) => noLineBreak(s) && !s.includes(':') && !s.includes(' '), 'a header name has no spaces, colons or line breaks')
const HeaderValue = z.string().max(8192).refine(noLineBreak, 'a header value has no line breaks')

export const httpRequest = defineAction({
  name: 'http.request',
  summary: 'One HTTP request from inside the sandbox to a port on its loopback (a service started there); status, sorted headers, body',
  needsSandbox: true,
  readOnly: false,
  timeoutMs: 60_000,
  input: z
    .object({
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).default('GET'),
      port: z.number().int().min(1).max(65_535).describe('Port on 127.0.0.1 inside the sandbox.'),
      path: z
        .string()
        .max(2048)
        .startsWith('/')
        .default('/')
        .refine((p) => noLineBreak(p) && !p.includes(' '), 'path has no spaces or line breaks'),
      headers: z
        .record(HeaderName, HeaderValue)
        .refine((h) => Object.keys(h).length <= 32, 'at most 32 headers')
        .optional(),
      body: z.string().max(maxBodyChars).optional().describe('Request body (text).'),
      expectStatus: z.number().int().min(100).max(599).optional().describe('ok only when the status is this one (default: any 2xx).'),
    })
    .strict(),
  output: z.object({ status: z.number().int(), headers: z.record(z.string(), z.string()), body: z.string(), json: z.unknown().optional(), truncated: z.boolean() }),
  run: async (i, env) => {
    const body = i.body ?? ''
    const lines = [`${i.method} ${i.path} HTTP/1.0`, `Host: 127.0.0.1:${i.port}`, ...Object.entries(i.headers ?? {}).map(([k, v]) => `${k}: ${v}`), 'Connection: close']
    if (i.body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
    const request = `${lines.join('\r\n')}\r\n\r\n${body}`
    // Everything reaches bash as positional arguments, never inside the script text.
    const script = 'exec 3<>/dev/tcp/127.0.0.1/"$1" || exit 7; printf "%s" "$2" >&3; head -c "$3" <&3'
    const r = await env.exec({ cmd: ['bash', '-c', script, 'http', String(i.port), request, String(maxResponseBytes + 1)] })
    if (r.exitCode === 7 || (r.exitCode !== 0 && r.stdout === ''))
      throw new AppError(
        'conflict',
        `nothing answers on 127.0.0.1:${i.port} inside the sandbox (${r.stderr.trim().slice(0, 200) || `exit ${r.exitCode}`}); start the service first, or wait.for its port`,
      )
    const res = parseHttpResponse(r.stdout, maxResponseBytes)
    const ok = i.expectStatus !== undefined ? res.status === i.expectStatus : res.status >= 200 && res.status < 300
    return { ok, output: res }
  },
})

/** Status, headers (lower-case names, sorted, `date` dropped: it is the wall clock) and body of a raw HTTP response. */
export function parseHttpResponse(raw: string, maxBytes: number): { status: number; headers: Record<string, string>; body: string; json?: unknown; truncated: boolean } {
  const end = raw.indexOf('\r\n\r\n')
  const head = end < 0 ? raw : raw.slice(0, end)
  let body = end < 0 ? '' : raw.slice(end + 4)
  const [statusLine = '', ...headerLines] = head.split('\r\n')
  const status = Number(statusLine.split(' ')[1])
  if (!statusLine.startsWith('HTTP/') || !Number.isInteger(status)) throw new AppError('conflict', `the service did not answer HTTP (first line ${JSON.stringify(statusLine.slice(0, 80))})`)
  const pairs: [string, string][] = []
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    if (name !== 'date' && name !== '__proto__') pairs.push([name, line.slice(colon + 1).trim()])
  }
  pairs.sort((a, b) => byCodeUnits(a[0], b[0]))
  const headers: Record<string, string> = Object.create(null) as Record<string, string>
  for (const [k, v] of pairs) headers[k] = k in headers ? `${headers[k]}, ${v}` : v
  const truncated = Buffer.byteLength(raw) > maxBytes
  if (truncated)
    body = Buffer.from(body)
      .subarray(0, Math.max(0, maxBytes - (end + 4)))
      .toString('utf8')
  let json: unknown
  if (!truncated && (headers['content-type'] ?? '').includes('json')) {
    try {
      json = JSON.parse(body)
    } catch {
      json = undefined
    }
  }
  return json === undefined ? { status, headers, body, truncated } : { status, headers, body, json, truncated }
}
