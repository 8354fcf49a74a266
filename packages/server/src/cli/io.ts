/** @module cli/io — stdout for output, stderr for progress; --json prints one document and nothing else. */
import type { CliIo } from './command.js'

export function createIo(json: boolean): CliIo {
  return {
    json,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    info: (text) => {
      if (!json) process.stderr.write(text.endsWith('\n') ? text : `${text}\n`)
    },
    print(value, human) {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
      else {
        const text = human()
        if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`)
      }
    },
  }
}

/** A plain aligned table; empty cells shown as '-'. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)'
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined || r[c] === '' ? '-' : String(r[c]))))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
}

/** `30s`, `5m`, `2h`, `1500ms` or a bare number of ms → ms. */
export function parseDuration(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim())
  if (!m) throw new Error(`${flag} must be a duration like 30s, 5m, 2h or milliseconds (got ${JSON.stringify(s)})`)
  const n = Number(m[1])
  const unit = m[2] ?? 'ms'
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!)
}

/** Repeated `K=V` flags → record. */
export function keyValues(values: unknown, flag: string): Record<string, string> {
  const list = values === undefined ? [] : Array.isArray(values) ? values : [values]
  const out: Record<string, string> = {}
  for (const item of list.map(String)) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw new Error(`${flag} takes KEY=VALUE (got ${JSON.stringify(item)})`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}
