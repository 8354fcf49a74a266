/**
 * OCI images from real tools: a Debian rootfs made by mmdebstrap, turned into an OCI layout here,
 * pushed by skopeo into Debian's docker-registry on loopback, then imported from the registry, the
 * layout, an OCI archive and a docker archive (skopeo writes both).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { childEnv } from '../../src/core/child-env.js'
import { importImage, removeImage } from '../../src/templates/oci/index.js'
import { hostArch, mediaTypes } from '../../src/templates/oci/manifest.js'

const run = promisify(execFile)
const tools = ['/usr/bin/mmdebstrap', '/usr/bin/skopeo', '/usr/bin/docker-registry']
const missing = tools.filter((t) => !existsSync(t))
const notRoot = process.getuid?.() !== 0
const skipReason = notRoot ? 'needs root (unpack chowns files)' : missing.length ? `missing ${missing.join(', ')} (run scripts/install-host-deps.sh)` : ''
if (skipReason) console.log(`oci-registry: skipped: ${skipReason}`)

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`
const uidBase = 300_000
const auth = { username: 'alice', password: 'registry-pw' }

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

describe.skipIf(skipReason !== '')('OCI import with mmdebstrap, skopeo and docker-registry', () => {
  let work: string
  let layout: string
  let registry: ChildProcess | undefined
  let host: string
  let layoutDigest: string

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'oci-it-'))
    const rootfsTar = join(work, 'rootfs.tar')
    await run('mmdebstrap', ['--quiet', '--variant=essential', '--format=tar', 'bookworm', rootfsTar], { env: childEnv(), maxBuffer: 1 << 24 })
    // An OCI layout made by hand from the tarball: one gzip layer, a config, a manifest named v1.
    layout = join(work, 'layout')
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true })
    const put = async (b: Buffer) => (await writeFile(join(layout, 'blobs', 'sha256', sha(b).slice(7)), b), { digest: sha(b), size: b.length })
    const plain = await readFile(rootfsTar)
    const layer = await put(gzipSync(plain))
    const config = await put(Buffer.from(JSON.stringify({ architecture: hostArch(), os: 'linux', config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha(plain)] } })))
    const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { mediaType: mediaTypes.ociConfig, ...config }, layers: [{ mediaType: mediaTypes.ociLayerGzip, ...layer }] }))
    const manifest = await put(manifestBytes)
    layoutDigest = manifest.digest
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await writeFile(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: mediaTypes.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }))

    const port = await freePort()
    host = `127.0.0.1:${port}`
    const cfg = join(work, 'registry.yml')
    // htpasswd wants bcrypt: Debian's Python crypt (libxcrypt) makes one without apache2-utils.
    const { stdout: hash } = await run('python3', ['-W', 'ignore', '-c', "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))", auth.password], { env: childEnv() })
    await writeFile(join(work, 'htpasswd'), `${auth.username}:${hash.trim()}\n`)
    await writeFile(cfg, `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: tidepool-test\n    path: ${join(work, 'htpasswd')}\n`)
    registry = spawn('/usr/bin/docker-registry', ['serve', cfg], { env: childEnv(), stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://${host}/v2/`).then((r) => r.status === 401, () => false)
      if (ok) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const skopeo = (args: string[]) => run('skopeo', ['--insecure-policy', ...args], { env: childEnv(), maxBuffer: 1 << 24 })
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${auth.username}:${auth.password}`, `oci:${layout}:v1`, `docker://${host}/tidepool/debian:v1`])
    await skopeo(['copy', `oci:${layout}:v1`, `oci-archive:${join(work, 'oci.tar')}`])
    await skopeo(['copy', `oci:${layout}:v1`, `docker-archive:${join(work, 'docker.tar')}:tidepool/debian:v1`])
  }, 600_000)

  afterAll(async () => {
    if (registry?.pid) registry.kill('SIGTERM')
    if (work) await rm(work, { recursive: true, force: true })
  })

  it('the registry, the layout and the OCI archive give one digest and a rootfs with /bin/sh shifted by uidBase', async () => {
    const storeDir = join(work, 'store')
    const pulled = await importImage({ kind: 'registry', image: `${host}/tidepool/debian:v1`, auth, insecureHttp: true }, { storeDir, uidBase })
    expect(pulled.digest).toBe(layoutDigest)
    expect(pulled.cached).toBe(false)
    const fromLayout = await importImage({ kind: 'layout', path: layout, ref: 'v1' }, { storeDir, uidBase })
    expect(fromLayout).toMatchObject({ digest: layoutDigest, cached: true })
    const fromArchive = await importImage({ kind: 'archive', path: join(work, 'oci.tar') }, { storeDir: join(work, 'store2'), uidBase })
    expect(fromArchive).toMatchObject({ digest: layoutDigest, cached: false })

    expect(await readlink(join(pulled.rootfs, 'bin'))).toBe('usr/bin')
    const sh = await lstat(join(pulled.rootfs, 'usr/bin/sh'))
    expect(sh.uid).toBe(uidBase)
    expect(pulled.config.cmd).toEqual(['/bin/sh'])
    await removeImage(storeDir, pulled.digest)
    await expect(lstat(pulled.rootfs)).rejects.toThrow()
  })

  it('a docker archive imports (its digest is the manifest implied by manifest.json)', async () => {
    const img = await importImage({ kind: 'archive', path: join(work, 'docker.tar'), ref: 'tidepool/debian:v1' }, { storeDir: join(work, 'store3'), uidBase })
    expect((await lstat(join(img.rootfs, 'usr/bin/sh'))).isFile() || (await lstat(join(img.rootfs, 'usr/bin/sh'))).isSymbolicLink()).toBe(true)
  })

  it('no or a wrong password is refused; an unknown image is not_found; the registry stopped is runtime_unavailable', async () => {
    const storeDir = join(work, 'store4')
    const image = `${host}/tidepool/debian:v1`
    await expect(importImage({ kind: 'registry', image, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ reason: 'auth_failed' })
    await expect(importImage({ kind: 'registry', image, auth: { ...auth, password: 'wrong' }, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ reason: 'auth_failed', code: 'invalid_request' })
    await expect(importImage({ kind: 'registry', image: `${host}/tidepool/none:v1`, auth, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'not_found' })
    registry?.kill('SIGTERM')
    await new Promise((r) => registry?.once('exit', r))
    registry = undefined
    await expect(importImage({ kind: 'registry', image: `${host}/tidepool/debian:v1`, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'runtime_unavailable' })
  })
})
