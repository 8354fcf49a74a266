/** @module network/socks-front — the SOCKS5 front: handshake, the same admission as HTTP, then a checked tunnel; refusals as SOCKS reply codes. */
import { createServer, type Server, type Socket } from 'node:net'
import { admit } from './admission.js'
import { refuseUnknown, relayTunnel } from './http-front.js'
import { connectTo, stubTarget, type ProxyCore } from './proxy-core.js'
import { parseGreeting, parseRequest, reply, SocksReply } from './socks5.js'

/** Greeting and request together never exceed this (257 + 262 bytes); more before the reply is a protocol error. */
const MAX_HANDSHAKE = 1024
const HANDSHAKE_TIMEOUT_MS = 10_000

export function createSocksFront(core: ProxyCore): Server {
  return createServer({ noDelay: true }, (s) => {
    if (refuseUnknown(core, s)) return
    s.on('error', () => {})
    handshake(core, s)
  })
}

function handshake(core: ProxyCore, s: Socket): void {
  let buf = Buffer.alloc(0)
  let stage: 'greeting' | 'request' | 'done' = 'greeting'
  const timer = setTimeout(() => s.destroy(), HANDSHAKE_TIMEOUT_MS)
  timer.unref()
  const onData = (d: Buffer) => {
    buf = Buffer.concat([buf, d])
    if (buf.length > MAX_HANDSHAKE) return void s.destroy()
    if (stage === 'greeting') {
      const g = parseGreeting(buf)
      if (g.kind === 'need-more') return
      if (g.kind === 'invalid' || !g.noAuth) return void s.end(Buffer.from([5, 0xff]))
      s.write(Buffer.from([5, 0x00]))
      buf = buf.subarray(g.consumed)
      stage = 'request'
    }
    if (stage === 'request') {
      const r = parseRequest(buf)
      if (r.kind === 'need-more') return
      stage = 'done'
      clearTimeout(timer)
      s.off('data', onData)
      s.pause()
      if (r.kind === 'invalid') return void s.end(reply(r.reply ?? SocksReply.generalFailure))
      void connectRequest(core, s, r.host, r.port, buf.subarray(r.consumed)).catch((err: unknown) => {
        core.log.error({ err }, 'egress proxy: SOCKS connect failed')
        s.destroy()
      })
    }
  }
  s.on('data', onData)
}

const replyFor: Record<string, number> = {
  ECONNREFUSED: SocksReply.connectionRefused,
  EHOSTUNREACH: SocksReply.hostUnreachable,
  ENETUNREACH: SocksReply.networkUnreachable,
  ETIMEDOUT: SocksReply.ttlExpired,
}

async function connectRequest(core: ProxyCore, s: Socket, host: string, port: number, head: Buffer): Promise<void> {
  const att = core.attachmentFor(s.remoteAddress)
  if (!att) return void s.destroy()
  const a = await admit(core.rules, att, host, port)
  const base = { sandboxId: att.sandboxId, project: att.project, protocol: 'socks' as const, host: a.host, port }
  if (a.verdict === 'denied' || a.verdict === 'error' || (a.verdict === 'stubbed' && !a.stub.url)) {
    const rule = a.verdict === 'stubbed' ? `${a.rule} answers plain http:// through the HTTP proxy only` : a.rule
    s.end(reply(SocksReply.notAllowed))
    core.emit({ ...base, verdict: 'denied', rule, bytesUp: 0, bytesDown: 0 })
    return
  }
  if (a.verdict === 'allowed' && a.credentials?.terminateTls) {
    if (!core.terminator) {
      s.end(reply(SocksReply.generalFailure))
      core.emit({ ...base, verdict: 'error', rule: 'TLS termination is not available (no CA)', bytesUp: 0, bytesDown: 0 })
      return
    }
    s.write(reply(SocksReply.succeeded))
    s.resume()
    return core.terminator.take(s, head, { att, host: a.host, port, address: a.address, rule: a.rule, credentials: a.credentials, protocol: 'socks' })
  }
  const dest = a.verdict === 'stubbed' ? stubTarget(a.stub) : { address: a.address, port }
  let upstream: Socket
  try {
    upstream = await connectTo(dest.address, dest.port, core.connectTimeoutMs)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    s.end(reply(replyFor[code] ?? SocksReply.generalFailure))
    core.emit({ ...base, verdict: 'error', rule: `upstream ${code}`, bytesUp: 0, bytesDown: 0 })
    return
  }
  if (s.destroyed) return void upstream.destroy()
  s.write(reply(SocksReply.succeeded))
  s.resume()
  relayTunnel(core, base, a, s, upstream, head)
}
