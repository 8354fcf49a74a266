/**
 * @module network/socks5 — the SOCKS5 handshake (RFC 1928) as pure parsers over the bytes received so
 * far: no authentication, CONNECT only, domain names and IPv4/IPv6 literals. Every message is bounded
 * by the format itself (at most 262 bytes).
 */

export const SOCKS_VERSION = 5
/** Reply codes (RFC 1928 §6). */
export const SocksReply = {
  succeeded: 0x00,
  generalFailure: 0x01,
  notAllowed: 0x02,
  networkUnreachable: 0x03,
  hostUnreachable: 0x04,
  connectionRefused: 0x05,
  ttlExpired: 0x06,
  commandNotSupported: 0x07,
  addressTypeNotSupported: 0x08,
} as const

export type Parsed<T> = { kind: 'need-more' } | { kind: 'invalid'; reason: string; reply?: number } | ({ kind: 'ok'; consumed: number } & T)

/** VER NMETHODS METHODS…: whether the client offers "no authentication" (0x00). */
export function parseGreeting(b: Buffer): Parsed<{ noAuth: boolean }> {
  if (b.length < 2) return { kind: 'need-more' }
  if (b[0] !== SOCKS_VERSION) return { kind: 'invalid', reason: `not SOCKS5 (version ${b[0]})` }
  const n = b[1]!
  if (b.length < 2 + n) return { kind: 'need-more' }
  return { kind: 'ok', consumed: 2 + n, noAuth: b.subarray(2, 2 + n).includes(0x00) }
}

/** VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function parseRequest(b: Buffer): Parsed<{ host: string; port: number }> {
  if (b.length < 5) return { kind: 'need-more' }
  if (b[0] !== SOCKS_VERSION) return { kind: 'invalid', reason: `not SOCKS5 (version ${b[0]})`, reply: SocksReply.generalFailure }
  if (b[1] !== 0x01) return { kind: 'invalid', reason: `SOCKS command ${b[1]} not supported (CONNECT only)`, reply: SocksReply.commandNotSupported }
  const atyp = b[3]
  let host: string
  let p: number
  if (atyp === 0x01) {
    if (b.length < 10) return { kind: 'need-more' }
    host = `${b[4]}.${b[5]}.${b[6]}.${b[7]}`
    p = 8
  } else if (atyp === 0x03) {
    const len = b[4]!
    if (len === 0) return { kind: 'invalid', reason: 'empty SOCKS domain name', reply: SocksReply.generalFailure }
    if (b.length < 5 + len + 2) return { kind: 'need-more' }
    host = b.subarray(5, 5 + len).toString('latin1')
    p = 5 + len
  } else if (atyp === 0x04) {
    if (b.length < 22) return { kind: 'need-more' }
    const groups: string[] = []
    for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(4 + i * 2).toString(16))
    host = new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1) // compressed form, as a config or policy writes it
    p = 20
  } else return { kind: 'invalid', reason: `SOCKS address type ${atyp} not supported`, reply: SocksReply.addressTypeNotSupported }
  return { kind: 'ok', consumed: p + 2, host, port: b.readUInt16BE(p) }
}

/** A reply with BND.ADDR 0.0.0.0:0 (clients ignore it for CONNECT). */
export function reply(code: number): Buffer {
  return Buffer.from([SOCKS_VERSION, code, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
}
