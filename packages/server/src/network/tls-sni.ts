/**
 * @module network/tls-sni — the server name a TLS ClientHello asks for (RFC 8446 §4.1.2, RFC 6066 §3),
 * read from the first bytes of a CONNECT tunnel so the proxy can check it against the CONNECT host.
 * Read only, bounded (the hello may span records; at most MAX_HELLO bytes are looked at), no TLS
 * interception.
 */

/** A ClientHello larger than this is refused (real ones are under 2 KiB; post-quantum key shares stay under 4). */
export const MAX_HELLO = 16 * 1024

export type HelloScan = { kind: 'need-more' } | { kind: 'not-tls' } | { kind: 'invalid'; reason: string } | { kind: 'hello'; serverName: string | undefined }

/** Scan the bytes a client sent so far. */
export function scanClientHello(buf: Buffer): HelloScan {
  if (buf.length === 0) return { kind: 'need-more' }
  if (buf[0] !== 0x16) return { kind: 'not-tls' }
  // Gather the handshake bytes out of consecutive handshake records.
  const parts: Buffer[] = []
  let have = 0
  let off = 0
  let want: number | undefined
  while (want === undefined || have < want) {
    if (off + 5 > buf.length) return buf.length > MAX_HELLO + 5 * 8 ? { kind: 'invalid', reason: 'ClientHello too large' } : { kind: 'need-more' }
    if (buf[off] !== 0x16) return { kind: 'invalid', reason: 'handshake interrupted by another record type' }
    const len = buf.readUInt16BE(off + 3)
    if (len === 0 || len > 16_384 + 256) return { kind: 'invalid', reason: 'bad record length' }
    if (off + 5 + len > buf.length) {
      if (buf.length > MAX_HELLO + 5 * 8) return { kind: 'invalid', reason: 'ClientHello too large' }
      return { kind: 'need-more' }
    }
    parts.push(buf.subarray(off + 5, off + 5 + len))
    have += len
    off += 5 + len
    if (want === undefined) {
      const first = parts[0]!
      if (first.length < 4) return { kind: 'invalid', reason: 'short handshake header' }
      if (first[0] !== 0x01) return { kind: 'invalid', reason: 'first handshake message is not a ClientHello' }
      want = 4 + ((first[1]! << 16) | (first[2]! << 8) | first[3]!)
      if (want > MAX_HELLO) return { kind: 'invalid', reason: 'ClientHello too large' }
    }
  }
  return parseHello(Buffer.concat(parts).subarray(4, want))
}

function parseHello(h: Buffer): HelloScan {
  const bad = (reason: string): HelloScan => ({ kind: 'invalid', reason })
  let p = 2 + 32 // legacy_version, random
  if (p + 1 > h.length) return bad('truncated ClientHello')
  p += 1 + h[p]! // legacy_session_id
  if (p + 2 > h.length) return bad('truncated ClientHello')
  p += 2 + h.readUInt16BE(p) // cipher_suites
  if (p + 1 > h.length) return bad('truncated ClientHello')
  p += 1 + h[p]! // legacy_compression_methods
  if (p === h.length) return { kind: 'hello', serverName: undefined } // no extensions
  if (p + 2 > h.length) return bad('truncated ClientHello')
  const end = p + 2 + h.readUInt16BE(p)
  if (end > h.length) return bad('extensions overrun the ClientHello')
  p += 2
  while (p + 4 <= end) {
    const type = h.readUInt16BE(p)
    const len = h.readUInt16BE(p + 2)
    p += 4
    if (p + len > end) return bad('extension overruns the ClientHello')
    if (type === 0x0000) return serverNameOf(h.subarray(p, p + len))
    p += len
  }
  return { kind: 'hello', serverName: undefined }
}

function serverNameOf(ext: Buffer): HelloScan {
  if (ext.length < 2) return { kind: 'invalid', reason: 'bad server_name extension' }
  const end = Math.min(ext.length, 2 + ext.readUInt16BE(0))
  let p = 2
  while (p + 3 <= end) {
    const type = ext[p]!
    const len = ext.readUInt16BE(p + 1)
    p += 3
    if (p + len > end) return { kind: 'invalid', reason: 'bad server_name entry' }
    if (type === 0) return { kind: 'hello', serverName: ext.subarray(p, p + len).toString('latin1') }
    p += len
  }
  return { kind: 'hello', serverName: undefined }
}
