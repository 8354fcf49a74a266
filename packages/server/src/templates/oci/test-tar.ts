/** @module templates/oci/test-tar — builds ustar archives of crafted entries for the tests (unsafe ones included, on purpose). */

export interface TarEntry {
  path: string
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '5' directory, '6' FIFO */
  type?: '0' | '1' | '2' | '3' | '5' | '6'
  body?: string | Buffer
  linkpath?: string
  mode?: number
  uid?: number
  gid?: number
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0'
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512)
  h.write(e.path, 0, 100, 'utf8')
  h.write(octal(e.mode ?? (e.type === '5' ? 0o755 : 0o644), 8), 100, 'ascii')
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii')
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii')
  h.write(octal(size, 12), 124, 'ascii')
  h.write(octal(1_700_000_000, 12), 136, 'ascii')
  h.write('        ', 148, 'ascii')
  h.write(e.type ?? '0', 156, 'ascii')
  if (e.linkpath) h.write(e.linkpath, 157, 100, 'utf8')
  h.write('ustar\u000000', 257, 'ascii')
  let sum = 0
  for (const b of h) sum += b
  h.write(octal(sum, 7) + ' ', 148, 'ascii')
  return h
}

export function makeTar(entries: TarEntry[], opts: { truncate?: number } = {}): Buffer {
  const parts: Buffer[] = []
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '')
    parts.push(header(e, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  const all = Buffer.concat(parts)
  return opts.truncate ? all.subarray(0, opts.truncate) : all
}
