/** @module e2b/envd/files-http — envd's GET/POST /files (download; raw or multipart upload) over readFile and writeFile. */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Readable } from 'node:stream'
import { AppError } from '../../core/errors.js'
import { ByteStream } from '../../kit/byte-stream.js'
import { call } from '../call.js'
import { absolute, userOf, type EnvdCall } from './context.js'

/** A multipart upload is parsed whole (web FormData): larger files go as application/octet-stream. */
const MAX_MULTIPART_BYTES = 64 * 1024 * 1024
const MAX_RAW_BYTES = 512 * 1024 * 1024

export async function serveFiles(c: EnvdCall, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const user = userOf(url.searchParams.get('username') ? `Basic ${Buffer.from(`${url.searchParams.get('username')}:`).toString('base64')}` : req.headers.authorization)
  const given = url.searchParams.get('path')
  if (req.method === 'GET') {
    if (!given) throw new AppError('invalid_request', 'path is required: GET /files?path=<file>')
    const bytes = await call(c.svc, c.principal, 'readFile', { id: c.sandboxId, path: absolute(given, user) })
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' })
    const stream = bytes instanceof ByteStream ? bytes : ByteStream.of(bytes as Uint8Array)
    res.once('close', () => void stream.cancel())
    for (let r = await stream.next(); !r.done; r = await stream.next()) {
      if (!res.write(r.value)) await new Promise((ok) => res.once('drain', ok))
    }
    res.end()
    return
  }
  if (req.method !== 'POST') throw new AppError('invalid_request', `method ${req.method} is not served on /files; use GET or POST`)
  const type = req.headers['content-type'] ?? ''
  const written: { name: string; type: 'file'; path: string }[] = []
  const write = async (path: string, content: Uint8Array | AsyncIterable<Uint8Array>) => {
    const stat = await call(c.svc, c.principal, 'writeFile', { id: c.sandboxId, path, content })
    written.push({ name: stat.entry?.name ?? path.split('/').pop() ?? path, type: 'file', path: stat.entry?.path ?? path })
  }
  if (type.startsWith('multipart/form-data')) {
    const declared = Number(req.headers['content-length'] ?? '0')
    if (declared > MAX_MULTIPART_BYTES) throw new AppError('payload_too_large', `a multipart upload may be ${MAX_MULTIPART_BYTES} bytes; send larger files as application/octet-stream`)
    const form = await new Request('http://envd/files', { method: 'POST', headers: { 'content-type': type }, body: bounded(req, MAX_MULTIPART_BYTES), duplex: 'half' } as RequestInit).formData()
    for (const [, part] of form) {
      if (typeof part === 'string') continue
      const path = given ?? part.name
      if (!path) throw new AppError('invalid_request', 'a multipart file needs a path: ?path= or the part filename')
      await write(absolute(path, user), new Uint8Array(await part.arrayBuffer()))
    }
  } else {
    if (!given) throw new AppError('invalid_request', 'path is required: POST /files?path=<file>')
    await write(absolute(given, user), ByteStream.from(req as AsyncIterable<Uint8Array>, { max: MAX_RAW_BYTES, tooLarge: (m) => new AppError('payload_too_large', `upload exceeds ${m} bytes`) }))
  }
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify(written))
}

/** The request body as a web stream that fails past `max` bytes. */
function bounded(req: IncomingMessage, max: number): ReadableStream<Uint8Array> {
  let seen = 0
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of req as AsyncIterable<Buffer>) {
        seen += chunk.length
        if (seen > max) throw new AppError('payload_too_large', `a multipart upload may be ${max} bytes`)
        yield chunk
      }
    })(),
  )
  return Readable.toWeb(counted) as unknown as ReadableStream<Uint8Array>
}
