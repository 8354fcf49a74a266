import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hostArch, mediaTypes } from './manifest.js'
import { importImage, removeImage } from './index.js'
import { makeTar } from './test-tar.js'

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`
const uidBase = 200_000

// One small image, built here: a gzip layer, a config, a manifest, an index naming it v1.
const layer = gzipSync(
  makeTar([
    { path: 'bin/', type: '5' },
    { path: 'bin/sh', body: '#!fake', mode: 0o755 },
    { path: 'etc/os-release', body: 'ID=tidepool-test\n' },
  ]),
)
const config = Buffer.from(JSON.stringify({ architecture: hostArch(), os: 'linux', config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/srv' }, rootfs: { type: 'layers', diff_ids: [] } }))
const manifest = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: mediaTypes.ociManifest,
    config: { mediaType: mediaTypes.ociConfig, digest: sha(config), size: config.length },
    layers: [{ mediaType: mediaTypes.ociLayerGzip, digest: sha(layer), size: layer.length }],
  }),
)
const index = (entries: object[]) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: entries }))
const manifestDesc = { mediaType: mediaTypes.ociManifest, digest: sha(manifest), size: manifest.length }
const list = index([
  { ...manifestDesc, digest: `sha256:${'0'.repeat(64)}`, platform: { os: 'linux', architecture: 'some-other-arch' } },
  { ...manifestDesc, platform: { os: 'linux', architecture: hostArch() } },
])
const blobs = new Map([config, manifest, layer, list].map((b) => [sha(b), b]))

let work: string
let layoutDir: string
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oci-import-'))
  layoutDir = join(work, 'layout')
  await mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true })
  for (const [d, b] of blobs) await writeFile(join(layoutDir, 'blobs', 'sha256', d.slice(7)), b)
  await writeFile(join(layoutDir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await writeFile(join(layoutDir, 'index.json'), index([{ ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }]))
})
afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

const root = process.getuid?.() === 0

describe.skipIf(!root)('importImage (needs root: chown)', () => {
  it('imports an OCI layout once, then finds it cached; removeImage removes it (idempotent)', async () => {
    const storeDir = join(work, 'store-layout')
    // What a crash mid-unpack leaves (its pid is gone): swept by the next import, never used.
    await mkdir(join(storeDir, 'tmp', '2147483646.dead.rootfs', 'etc'), { recursive: true })
    const phases: string[] = []
    const img = await importImage({ kind: 'layout', path: layoutDir, ref: 'v1' }, { storeDir, uidBase, onProgress: (p) => phases.push(p.phase) })
    expect(img.digest).toBe(sha(manifest))
    expect(img.cached).toBe(false)
    expect(img.config).toEqual({ env: ['PATH=/bin'], cmd: ['/bin/sh'], workdir: '/srv' })
    expect(await readFile(join(img.rootfs, 'etc/os-release'), 'utf8')).toBe('ID=tidepool-test\n')
    expect(new Set(phases)).toEqual(new Set(['resolve', 'fetch', 'verify', 'unpack']))
    const again = await importImage({ kind: 'layout', path: layoutDir }, { storeDir, uidBase })
    expect(again).toMatchObject({ digest: img.digest, rootfs: img.rootfs, cached: true })
    await expect(importImage({ kind: 'layout', path: layoutDir, ref: 'nope' }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'not_found' })
    await removeImage(storeDir, img.digest)
    await removeImage(storeDir, img.digest)
    expect(await readdir(join(storeDir, 'rootfs'))).toEqual([])
    expect(await readdir(join(storeDir, 'blobs', 'sha256'))).toEqual([])
    expect(await readdir(join(storeDir, 'tmp'))).toEqual([])
  })

  it('an OCI archive of the same layout gives the same digest and leaves no extracted copy', async () => {
    const entries = [
      { path: 'oci-layout', body: await readFile(join(layoutDir, 'oci-layout')) },
      { path: 'index.json', body: await readFile(join(layoutDir, 'index.json')) },
      ...[...blobs].map(([d, b]) => ({ path: `blobs/sha256/${d.slice(7)}`, body: b })),
    ]
    const archive = join(work, 'image.tar')
    await writeFile(archive, makeTar(entries))
    const storeDir = join(work, 'store-archive')
    const img = await importImage({ kind: 'archive', path: archive }, { storeDir, uidBase })
    expect(img.digest).toBe(sha(manifest))
    expect(await readdir(join(storeDir, 'tmp'))).toEqual([])
  })

  describe('from a registry on loopback', () => {
    let server: Server
    let base: string
    const state = { tamper: false, password: 'secret' }
    beforeAll(async () => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        if (url.pathname === '/token') {
          const ok = req.headers.authorization === `Basic ${Buffer.from(`alice:${state.password}`).toString('base64')}`
          res.writeHead(ok ? 200 : 401).end(ok ? JSON.stringify({ token: 'tok123' }) : '')
          return
        }
        if (req.headers.authorization !== 'Bearer tok123') {
          res.writeHead(401, { 'www-authenticate': `Bearer realm="${base}/token",service="test",scope="repository:team/img:pull"` }).end()
          return
        }
        const prefix = ['/v2/team/img/manifests/', '/v2/team/img/blobs/'].find((p) => url.pathname.startsWith(p))
        const ref = prefix ? url.pathname.slice(prefix.length) : undefined
        const key = ref === 'v1' ? sha(manifest) : ref === 'multi' ? sha(list) : ref
        const body = key ? blobs.get(key) : undefined
        if (!body) return void res.writeHead(404).end()
        const type = body === list ? mediaTypes.ociIndex : body === manifest ? mediaTypes.ociManifest : 'application/octet-stream'
        const out = state.tamper && body === layer ? Buffer.concat([body.subarray(0, -1), Buffer.from([body.at(-1)! ^ 1])]) : body
        res.writeHead(200, { 'content-type': type }).end(out)
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    })
    afterAll(() => new Promise<void>((r) => server.close(() => r())))
    const host = () => base.slice('http://'.length)
    const auth = { username: 'alice', password: 'secret' }

    it("pulls through the bearer flow; an index picks this host's platform", async () => {
      const img = await importImage({ kind: 'registry', image: `${host()}/team/img:multi`, auth, insecureHttp: true }, { storeDir: join(work, 'store-reg'), uidBase })
      expect(img.digest).toBe(sha(manifest))
      expect(await readFile(join(img.rootfs, 'bin/sh'), 'utf8')).toBe('#!fake')
    })

    it('a tampered blob is refused and not kept', async () => {
      state.tamper = true
      const storeDir = join(work, 'store-tamper')
      try {
        await expect(importImage({ kind: 'registry', image: `${host()}/team/img:v1`, auth, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({
          reason: 'digest_mismatch',
          code: 'runtime_unavailable',
        })
      } finally {
        state.tamper = false
      }
      expect(await readdir(join(storeDir, 'blobs', 'sha256'))).toEqual([])
      expect(await readdir(join(storeDir, 'tmp'))).toEqual([])
      expect(await readdir(join(storeDir, 'rootfs'))).toEqual([])
    })

    it('a wrong password is auth_failed; a closed port is runtime_unavailable', async () => {
      const storeDir = join(work, 'store-fail')
      await expect(importImage({ kind: 'registry', image: `${host()}/team/img:v1`, auth: { username: 'alice', password: 'wrong' }, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({
        reason: 'auth_failed',
        code: 'invalid_request',
      })
      const closed = createServer()
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
      const port = (closed.address() as AddressInfo).port
      await new Promise<void>((r) => closed.close(() => r()))
      await expect(importImage({ kind: 'registry', image: `127.0.0.1:${port}/team/img:v1`, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({
        reason: 'registry_unavailable',
        code: 'runtime_unavailable',
      })
      await expect(importImage({ kind: 'registry', image: 'example.com/team/img:v1', insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'invalid_request' })
    })
  })
})
