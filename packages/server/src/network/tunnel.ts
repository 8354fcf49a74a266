/**
 * @module network/tunnel — one CONNECT or SOCKS tunnel: bytes both ways with backpressure (socket to
 * socket by `pipe`, no JS per chunk once the hello is checked; bytes counted once, from the upstream
 * socket's own counters, when the tunnel closes);
 * when the client speaks TLS, its ClientHello's server name must be the host it asked to reach
 * (otherwise an allowed host's tunnel could carry a request for any other host to a shared front end).
 */
import { isIP, type Socket } from 'node:net'
import { scanClientHello } from './tls-sni.js'

export interface TunnelEnd {
  bytesUp: number
  bytesDown: number
  /** Set when the tunnel was closed for a reason of ours (SNI mismatch, a bad hello). */
  refused?: string | undefined
  error?: string | undefined
}

/** A client that sends a partial ClientHello and stops is dropped after this long. */
const HELLO_TIMEOUT_MS = 10_000

export function runTunnel(o: { client: Socket; upstream: Socket; head: Buffer; host: string; onEnd: (end: TunnelEnd) => void }): void {
  const { client, upstream } = o
  const end: TunnelEnd = { bytesUp: 0, bytesDown: 0 }
  let open = 2
  const closed = () => {
    if (--open > 0) return
    // What the upstream sent is what the client got; what it was sent is what the client sent (the head too).
    end.bytesDown = upstream.bytesRead
    end.bytesUp = upstream.bytesWritten
    o.onEnd(end)
  }
  client.once('close', () => (upstream.destroy(), closed()))
  upstream.once('close', () => (client.destroy(), closed()))
  client.on('error', () => {})
  upstream.on('error', (err: NodeJS.ErrnoException) => (end.error ??= err.code ?? err.message))
  // Server-speaks-first protocols work: the upstream's bytes flow at once; only the client's wait for the check.
  upstream.pipe(client)
  const checkSni = isIP(o.host) === 0
  let pending: Buffer = o.head
  const timer = setTimeout(() => refuse('no complete TLS ClientHello in time'), HELLO_TIMEOUT_MS)
  timer.unref()
  const refuse = (why: string) => {
    end.refused ??= why
    client.destroy()
    upstream.destroy()
  }
  const flow = () => {
    clearTimeout(timer)
    client.off('data', gather)
    if (pending.length > 0) upstream.write(pending)
    client.pipe(upstream)
  }
  const examine = (): boolean => {
    const scan = scanClientHello(pending)
    if (scan.kind === 'need-more') return false
    if (scan.kind === 'invalid') refuse(`bad TLS ClientHello: ${scan.reason}`)
    else if (scan.kind === 'hello' && checkSni && scan.serverName !== undefined && scan.serverName.toLowerCase() !== o.host)
      refuse(`TLS server name ${scan.serverName.slice(0, 253)} does not match the CONNECT host ${o.host}`)
    else flow()
    return true
  }
  const gather = (d: Buffer) => {
    pending = pending.length === 0 ? d : Buffer.concat([pending, d])
    examine()
  }
  if (pending.length === 0 || !examine()) client.on('data', gather)
}
