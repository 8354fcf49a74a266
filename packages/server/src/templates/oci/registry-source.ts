/**
 * @module templates/oci/registry-source — pull over the OCI distribution API with Node's fetch:
 * manifests (OCI and Docker v2, indexes narrowed to this host), blobs, Basic auth and the bearer-token
 * flow. Nothing the server says is trusted: manifest bytes are hashed here, blobs by the store.
 */
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { sha256Of } from './digest.js'
import type { ImageSource } from './image-source.js'
import { narrowToManifest } from './image-source.js'
import { isLoopbackHost, parseImageRef } from './image-ref.js'
import { manifestAccept, maxJsonBytes, type Descriptor } from './manifest.js'
import { OciError } from './oci-error.js'
import { parseChallenge } from './www-authenticate.js'

export type RegistryAuth = { username: string; password: string } | { token: string }

/** A registry that does not answer within this is reported down (a blob's body has undici's own idle timeout). */
const requestTimeoutMs = 15_000

export function registrySource(image: string, o: { auth?: RegistryAuth; insecureHttp?: boolean; signal?: AbortSignal }): ImageSource {
  const ref = parseImageRef(image)
  if (o.insecureHttp && !isLoopbackHost(ref.registry)) throw new OciError('bad_reference', `insecureHttp is for loopback registries only (got ${ref.registry})`)
  const base = `${o.insecureHttp ? 'http' : 'https'}://${ref.registry}/v2/${ref.name}`
  let authorization: string | undefined = o.auth && 'token' in o.auth ? `Bearer ${o.auth.token}` : undefined

  const request = async (url: string, accept: string | undefined, what: string): Promise<Response> => {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {}
      if (accept) headers.accept = accept
      if (authorization) headers.authorization = authorization
      const res = await send(url, { headers }, o.signal, `${what} from ${ref.registry}`)
      if (res.status === 401 && attempt === 0) {
        await res.body?.cancel()
        authorization = await authorize(res.headers.get('www-authenticate') ?? '', o, `${ref.registry}`)
        continue
      }
      if (res.ok) return res
      await res.body?.cancel()
      if (res.status === 401 || res.status === 403) throw new OciError('auth_failed', `registry ${ref.registry} refused the credentials for ${ref.name} (HTTP ${res.status})`, { status: res.status })
      if (res.status === 404) throw new OciError('not_found', `${what} not found in ${ref.registry}/${ref.name}`, { status: res.status })
      throw new OciError('registry_unavailable', `registry ${ref.registry} answered HTTP ${res.status} for ${what}`, { status: res.status })
    }
  }

  const readManifest = async (reference: string, expect?: Descriptor) => {
    const res = await request(`${base}/manifests/${reference}`, manifestAccept, `manifest ${ref.name}:${reference}`)
    const bytes = await readCapped(res, maxJsonBytes, `manifest ${reference}`)
    const got = sha256Of(bytes)
    const claimed = res.headers.get('docker-content-digest')
    const want = expect?.digest ?? (reference.startsWith('sha256:') ? reference : (claimed ?? got))
    if (got !== want) throw new OciError('digest_mismatch', `manifest ${ref.name}:${reference} from ${ref.registry} does not match its digest: expected ${want}, got ${got}`, { expected: want, got })
    const ct = res.headers.get('content-type')?.split(';')[0]?.trim()
    return { bytes, digest: got, ...(ct ? { mediaType: ct } : {}) }
  }

  return {
    async resolve() {
      const top = await readManifest(ref.reference)
      const start: Descriptor = { mediaType: top.mediaType ?? '', digest: top.digest, size: top.bytes.length }
      return narrowToManifest(start, async (d) => (d.digest === top.digest ? top : readManifest(d.digest, d)), `${ref.registry}/${ref.name}`)
    },
    async openBlob(d) {
      const res = await request(`${base}/blobs/${d.digest}`, undefined, `blob ${d.digest}`)
      if (!res.body) throw new OciError('registry_unavailable', `registry ${ref.registry} sent no body for blob ${d.digest}`)
      return Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>)
    },
    close: async () => {},
  }
}

async function send(url: string, init: RequestInit, signal: AbortSignal | undefined, what: string): Promise<Response> {
  const timeout = AbortSignal.timeout(requestTimeoutMs)
  try {
    return await fetch(url, { ...init, redirect: 'follow', signal: signal ? AbortSignal.any([signal, timeout]) : timeout })
  } catch (err) {
    if (signal?.aborted) throw err
    const cause = (err as { cause?: { code?: string; message?: string } }).cause
    const why = timeout.aborted ? `no answer within ${requestTimeoutMs} ms` : (cause?.code ?? cause?.message ?? (err as Error).message)
    throw new OciError('registry_unavailable', `cannot fetch ${what}: ${why}`, {}, { cause: err })
  }
}

/** One answer to a 401: Basic with the credentials, or a token from the challenge's realm. */
async function authorize(header: string, o: { auth?: RegistryAuth; insecureHttp?: boolean; signal?: AbortSignal }, registry: string): Promise<string> {
  const ch = parseChallenge(header)
  const creds = o.auth && 'username' in o.auth ? o.auth : undefined
  const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` : undefined
  if (ch?.scheme === 'basic') {
    if (!basic) throw new OciError('auth_failed', `registry ${registry} needs a username and password`)
    return basic
  }
  if (ch?.scheme !== 'bearer') throw new OciError('auth_failed', `registry ${registry} asked for authentication tidepool cannot do (${header.slice(0, 40) || 'no WWW-Authenticate'})`)
  const realm = ch.params.get('realm') ?? ''
  let url: URL
  try {
    url = new URL(realm)
  } catch {
    throw new OciError('auth_failed', `registry ${registry} gave an invalid token realm`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && o.insecureHttp && isLoopbackHost(url.host))) {
    throw new OciError('auth_failed', `registry ${registry} token realm ${url.origin} is not https`)
  }
  for (const k of ['service', 'scope']) {
    const v = ch.params.get(k)
    if (v) url.searchParams.set(k, v)
  }
  const res = await send(url.href, { headers: basic ? { authorization: basic } : {} }, o.signal, `a token for ${registry}`)
  if (!res.ok) {
    await res.body?.cancel()
    throw new OciError('auth_failed', `token server for ${registry} refused (HTTP ${res.status})`, { status: res.status })
  }
  const body = await readCapped(res, 1 << 20, 'token response')
  let token: unknown
  try {
    const parsed = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown }
    token = parsed.token ?? parsed.access_token
  } catch {
    token = undefined
  }
  if (typeof token !== 'string' || token.length === 0 || token.length > 16384) throw new OciError('auth_failed', `token server for ${registry} sent no token`)
  return `Bearer ${token}`
}

async function readCapped(res: Response, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  if (res.body) {
    for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
      n += c.length
      if (n > max) throw new OciError('bad_image', `${what} is larger than ${max} bytes; refused`)
      chunks.push(Buffer.from(c))
    }
  }
  return Buffer.concat(chunks)
}
