/**
 * Small servers the port tests start inside a sandbox (scripts for the host's python3 and node, which a
 * 'host' template shows at /usr/bin), each bound to 127.0.0.1 only, and a way to start one and wait
 * until it listens.
 */
import type { ExecHandle, Runtime, RuntimeRef } from '../../../src/runtime/runtime.js'

/** Echoes each connection; at its end writes "bye" and closes (the runtime suite's echoServer). */
export const echoPy = (port: number) => `
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', ${port}))
s.listen(16)
print('listening', flush=True)
def serve(c):
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.sendall(b'bye')
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

/**
 * node: GET /sse streams one "data: tick N" event each time GET /next is called (so a test decides
 * when each event is sent, never a timer), GET /hang sends headers and then nothing, and a WebSocket
 * upgrade on /ws echoes each text frame (a hand-written handshake: Node 20 has no WebSocket server).
 */
export const streamingJs = (port: number) => `
const http = require('node:http'), crypto = require('node:crypto')
const clients = new Set()
let n = 0
const server = http.createServer((req, res) => {
  if (req.url === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    res.write(': hello\\n\\n')
    clients.add(res)
    req.on('close', () => clients.delete(res))
  } else if (req.url === '/next') {
    n++
    for (const c of clients) c.write('data: tick ' + n + '\\n\\n')
    res.end(String(clients.size))
  } else if (req.url === '/hang') {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.write('started\\n')
  } else {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body })))
  }
})
server.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n')
  let buf = Buffer.alloc(0)
  socket.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk])
    while (buf.length >= 6) {
      const op = buf[0] & 0x0f, len = buf[1] & 0x7f
      if (len > 125 || buf.length < 6 + len) break
      const mask = buf.subarray(2, 6)
      const data = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]))
      buf = buf.subarray(6 + len)
      if (op === 8) return socket.end()
      socket.write(Buffer.concat([Buffer.from([0x81, data.length]), data]))
    }
  })
})
server.listen(${port}, '127.0.0.1', () => console.log('listening'))
`

/** Starts `cmd` in the sandbox (its handle lives until the sandbox goes) and resolves once it printed "listening". */
export async function startInside(rt: Runtime, ref: RuntimeRef, cmd: string[]): Promise<ExecHandle> {
  const h = rt.exec(ref, { cmd, env: { PATH: '/usr/bin:/bin', HOME: '/tmp' }, user: 'user', timeoutMs: 0, detached: false, cwd: '/tmp' })
  h.stdin.on('error', () => {})
  let out = ''
  let err = ''
  h.stderr.on('data', (c: Buffer) => (err += c.toString()))
  await new Promise<void>((resolve, reject) => {
    h.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (out.includes('listening')) resolve()
    })
    h.wait().then(
      (e) => reject(new Error(`the server exited (${e.exitCode}) before it listened: ${err}`)),
      (e: unknown) => reject(e as Error),
    )
  })
  return h
}

export const echoServer = async (rt: Runtime, ref: RuntimeRef, port: number): Promise<void> => {
  await startInside(rt, ref, ['python3', '-c', echoPy(port)])
}
