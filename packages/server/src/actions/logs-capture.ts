/**
 * @module actions/logs-capture — `logs.mark` and `logs.capture`: the bytes a log file gained between
 * two marks. A mark is the file's size (an offset); capture reads from one offset to another (or to the
 * end now) with tail/head inside the sandbox, bounded.
 */
import { z } from 'zod'
import { defineAction } from './action.js'

const maxCaptureBytes = 1024 * 1024
const File = z.string().min(1).max(4096).startsWith('/').describe('Absolute path of the log file inside the sandbox.')
const Offset = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)

export const logsMark = defineAction({
  name: 'logs.mark',
  summary: 'The current size of a log file (0 if it does not exist yet): a mark to capture from',
  needsSandbox: true,
  readOnly: true,
  timeoutMs: 10_000,
  input: z.object({ file: File }).strict(),
  output: z.object({ file: z.string(), offset: z.number().int() }),
  run: async (i, env) => {
    const r = await env.exec({ cmd: ['sh', '-c', 'stat -c %s -- "$1" 2>/dev/null || echo 0', 'mark', i.file], timeoutMs: 10_000 })
    return { ok: true, output: { file: i.file, offset: Number(r.stdout.trim()) || 0 } }
  },
})

export const logsCapture = defineAction({
  name: 'logs.capture',
  summary: 'The text a log file gained between two marks (from logs.mark; `to` defaults to its end now), at most maxBytes',
  needsSandbox: true,
  readOnly: true,
  timeoutMs: 30_000,
  input: z.object({ file: File, from: Offset.default(0), to: Offset.optional(), maxBytes: z.number().int().min(1).max(maxCaptureBytes).default(maxCaptureBytes) }).strict(),
  output: z.object({
    file: z.string(),
    from: z.number().int(),
    to: z.number().int(),
    text: z.string(),
    truncated: z.boolean(),
    rotated: z.boolean().describe('The file is now shorter than `from` (truncated or rotated).'),
  }),
  run: async (i, env) => {
    // First line: the size now; then at most `count` bytes from offset `from` (tail -c +N is 1-based).
    const script = 'size=$(stat -c %s -- "$1" 2>/dev/null || echo 0); echo "$size"; [ "$size" -gt "$2" ] && tail -c +"$(($2 + 1))" -- "$1" | head -c "$3"; true'
    const read = async (count: number) => env.exec({ cmd: ['sh', '-c', script, 'capture', i.file, String(i.from), String(count)], timeoutMs: 30_000 })
    const wanted = i.to === undefined ? i.maxBytes + 1 : Math.min(Math.max(0, i.to - i.from), i.maxBytes + 1)
    const r = await read(wanted)
    const nl = r.stdout.indexOf('\n')
    const now = Number(r.stdout.slice(0, nl)) || 0
    let text = nl < 0 ? '' : r.stdout.slice(nl + 1)
    const bytes = Buffer.byteLength(text)
    const truncated = bytes > i.maxBytes
    if (truncated) text = Buffer.from(text).subarray(0, i.maxBytes).toString('utf8')
    const to = truncated ? i.from + i.maxBytes : Math.max(i.from, Math.min(i.to ?? now, now))
    return { ok: now >= i.from, output: { file: i.file, from: i.from, to, text, truncated, rotated: now < i.from } }
  },
})
