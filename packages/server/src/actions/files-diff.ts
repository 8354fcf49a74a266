/**
 * @module actions/files-diff — `files.mark` and `files.diff`: what changed under a directory of the
 * sandbox since a mark. A mark is a listing (type, size, SHA-256 of files up to 16 MiB) made by one
 * find/sha256sum command inside the sandbox and handed back to the caller, so the server keeps no state
 * and a workflow can pass it on (`${{ steps.m.outputs.mark }}`). No mtimes: equal trees give equal marks.
 */
import { z } from 'zod'
import { AppError } from '../core/errors.js'
import { defineAction, type ActionEnv } from './action.js'
import { byCodeUnits } from './stable.js'

export const maxMarkEntries = 20_000
const maxHashedBytes = 16 * 1024 * 1024

const Root = z
  .string()
  .min(1)
  .max(4096)
  .startsWith('/')
  .refine((p) => p.split('/').every((s) => s !== '..'), 'must not contain .. segments')
  .default('/workspace')
const Entry = z.object({ path: z.string().max(4096), type: z.enum(['file', 'dir', 'link']), size: z.number().int().min(0), sha256: z.string().max(64).optional() }).strict()
export const Mark = z
  .object({ root: Root, entries: z.array(Entry).max(maxMarkEntries) })
  .strict()
  .describe('A listing made by files.mark.')
export type Mark = z.output<typeof Mark>
type Entry = z.output<typeof Entry>

export const filesMark = defineAction({
  name: 'files.mark',
  summary: 'Record what is under a directory of the sandbox (types, sizes, hashes), to diff against later',
  needsSandbox: true,
  readOnly: true,
  timeoutMs: 60_000,
  input: z.object({ root: Root }).strict(),
  output: z.object({ mark: Mark }),
  run: async (i, env) => ({ ok: true, output: { mark: await markOf(i.root, env) } }),
})

export const filesDiff = defineAction({
  name: 'files.diff',
  summary: 'What was added, removed or changed under the mark’s directory since files.mark (sorted paths)',
  needsSandbox: true,
  readOnly: true,
  timeoutMs: 60_000,
  input: z.object({ since: Mark }).strict(),
  output: z.object({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()), unchanged: z.number().int() }),
  run: async (i, env) => {
    const d = diffMarks(i.since, await markOf(i.since.root, env))
    return { ok: true, output: d }
  },
})

async function markOf(root: string, env: ActionEnv): Promise<Mark> {
  // Paths reach the shell as arguments. Entries are NUL-separated (names may hold newlines); `=` alone
  // between two NULs separates the listing from the hashes (no path is just "=": every path starts with /).
  const script = [
    `find "$1" -xdev -mindepth 1 \\( -type f -o -type d -o -type l \\) -printf '%y/%s/%p\\0' | head -z -n "$2"`,
    `printf '\\0=\\0'`,
    `find "$1" -xdev -type f -size -"$3"c -print0 | head -z -n "$2" | xargs -0 -r sha256sum -z`,
  ].join('; ')
  const r = await env.exec({ cmd: ['sh', '-c', script, 'mark', root, String(maxMarkEntries + 1), String(maxHashedBytes + 1)], user: 'root', timeoutMs: 60_000 })
  if (r.truncated) throw new AppError('invalid_request', `root: ${root} has too much to list; mark a smaller directory`)
  return parseMark(root, r.stdout)
}

/** The mark described by the script's output: a NUL-separated listing, `\0=\0`, then sha256sum -z lines. */
export function parseMark(root: string, out: string): Mark {
  const sep = out.indexOf('\0=\0')
  const listing = (sep < 0 ? out : out.slice(0, sep)).split('\0').filter(Boolean)
  const hashes =
    sep < 0
      ? []
      : out
          .slice(sep + 3)
          .split('\0')
          .filter(Boolean)
  if (listing.length > maxMarkEntries) throw new AppError('invalid_request', `root: ${root} has more than ${maxMarkEntries} entries; mark a smaller directory`)
  const sha = new Map<string, string>()
  for (const h of hashes) {
    const gap = h.indexOf('  ')
    if (gap === 64) sha.set(h.slice(66), h.slice(0, 64))
  }
  const types: Record<string, Entry['type']> = { f: 'file', d: 'dir', l: 'link' }
  const entries: Entry[] = []
  for (const line of listing) {
    const a = line.indexOf('/')
    const b = line.indexOf('/', a + 1)
    const type = types[line.slice(0, a)]
    if (!type || b < 0) continue
    const path = line.slice(b + 1)
    const size = type === 'dir' ? 0 : Number(line.slice(a + 1, b))
    const hash = sha.get(path)
    entries.push(hash ? { path, type, size, sha256: hash } : { path, type, size })
  }
  entries.sort((x, y) => byCodeUnits(x.path, y.path))
  return { root, entries }
}

/** Sorted paths added, removed and changed (type, size or hash) between two marks of the same root. */
export function diffMarks(before: Mark, after: Mark): { added: string[]; removed: string[]; changed: string[]; unchanged: number } {
  const old = new Map(before.entries.map((e) => [e.path, e]))
  const added: string[] = []
  const changed: string[] = []
  let unchanged = 0
  for (const e of after.entries) {
    const o = old.get(e.path)
    old.delete(e.path)
    if (!o) added.push(e.path)
    else if (o.type !== e.type || o.size !== e.size || o.sha256 !== e.sha256) changed.push(e.path)
    else unchanged++
  }
  const removed = [...old.keys()]
  for (const list of [added, removed, changed]) list.sort(byCodeUnits)
  return { added, removed, changed, unchanged }
}
