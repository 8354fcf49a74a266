// One service of the routing example: `node service.mjs <name> <port> [<next routed URL>]`.
// GET /chain answers {"chain": [...]} after calling the next service (through the tidepool router) with
// the incoming W3C baggage carried onward by OpenTelemetry's propagator: that is all an application does
// for request-level routing. Needs @opentelemetry/api@1.9.0 and @opentelemetry/core@2.12.1.
import { Agent, createServer, request } from 'node:http'
import { ROOT_CONTEXT, defaultTextMapGetter, defaultTextMapSetter } from '@opentelemetry/api'
import { W3CBaggagePropagator } from '@opentelemetry/core'

const [name, port, next] = process.argv.slice(2)
const propagator = new W3CBaggagePropagator()
// *.localhost is loopback (RFC 6761) but glibc does not resolve its subdomains: connect to 127.0.0.1, keep the Host.
const agent = new Agent({ keepAlive: true, lookup: (_host, opts, cb) => (opts.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4)) })

function get(url, headers) {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      let body = ''
      res.on('data', (c) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode, servedBy: res.headers['x-tidepool-served-by'], body }))
    })
    req.on('error', reject)
    req.end()
  })
}

createServer(async (req, res) => {
  const ctx = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter)
  let chain = [`${name} (key ${process.env.TIDEPOOL_ROUTING_KEY ?? 'baseline'})`]
  if (next) {
    const carrier = {}
    propagator.inject(ctx, carrier, defaultTextMapSetter)
    const down = await get(`${next}/chain`, carrier).catch((err) => ({ status: 502, body: JSON.stringify({ chain: [`unreachable: ${err.message}`] }) }))
    chain = [...chain, ...JSON.parse(down.body).chain]
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ chain }))
}).listen(Number(port), '127.0.0.1', () => console.error(`${name} on 127.0.0.1:${port}${next ? ` → ${next}` : ''}`))
