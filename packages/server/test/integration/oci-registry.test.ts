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
import { createClient, Sandbox, Snapshot, Template } from '@tidepool/sdk'
import { loadConfig } from '../../src/config.js'
import { childEnv } from '../../src/core/child-env.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane } from '../../src/main.js'
import { importImage, removeImage } from '../../src/templates/oci/index.js'
import { hostArch, mediaTypes } from '../../src/templates/oci/manifest.js'
import { destroyAll, leftovers } from './support/host.js'

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
    const config = await put(
      Buffer.from(JSON.stringify({ architecture: hostArch(), os: 'linux', config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [sha(plain)] } })),
    )
    const manifestBytes = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { mediaType: mediaTypes.ociConfig, ...config }, layers: [{ mediaType: mediaTypes.ociLayerGzip, ...layer }] }),
    )
    const manifest = await put(manifestBytes)
    layoutDigest = manifest.digest
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: mediaTypes.ociManifest, ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }] }),
    )

    const port = await freePort()
    host = `127.0.0.1:${port}`
    const cfg = join(work, 'registry.yml')
    // htpasswd wants bcrypt: Debian's Python crypt (libxcrypt) makes one without apache2-utils.
    const { stdout: hash } = await run('python3', ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))', auth.password], { env: childEnv() })
    await writeFile(join(work, 'htpasswd'), `${auth.username}:${hash.trim()}\n`)
    await writeFile(
      cfg,
      `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, 'registry')}\nhttp:\n  addr: ${host}\nauth:\n  htpasswd:\n    realm: tidepool-test\n    path: ${join(work, 'htpasswd')}\n`,
    )
    registry = spawn('/usr/bin/docker-registry', ['serve', cfg], { env: childEnv(), stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`http://${host}/v2/`).then(
        (r) => r.status === 401,
        () => false,
      )
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

  // Issue #10's walk-through on the real runtime, through the SDK over HTTP: a template from the registry
  // image, 5 sandboxes from it, a snapshot after a change, a fork into 3, a reset, a sandbox at its disk
  // limit, and everything deleted leaving the runtime as it was.
  it('a template from the registry image: sandboxes, snapshot, fork, reset, a disk limit, all deleted without leftovers', async () => {
    const home = await mkdtemp(join(tmpdir(), 'oci-it-plane-'))
    const cgroupName = `tidepool-it-oci-${process.pid}`
    const config = loadConfig({ env: {}, overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128, diskMb: 64 } } })
    const cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    const conn = { baseUrl: (await cp.listen()).url, token: cp.adminToken! }
    const made: Sandbox[] = []
    try {
      const phases: string[] = []
      const tpl = await Template.build(
        {
          name: 'debian-app',
          base: { image: { kind: 'registry', image: `${host}/tidepool/debian:v1`, auth, insecureHttp: true } },
          steps: [{ run: 'mkdir -p /opt/app && echo ready > /opt/app/state && chown -R user:user /opt/app' }],
        },
        { ...conn, onProgress: (e) => void phases.push(e.phase) },
      )
      expect(tpl).toMatchObject({ base: { kind: 'image', digest: layoutDigest } })
      expect(phases).toContain('fetch')
      for (let i = 0; i < 5; i++) made.push(await Sandbox.create('debian-app', { ...conn, timeoutMs: 120_000 }))
      for (const sbx of made) {
        const r = await sbx.commands.run('cat /etc/debian_version /opt/app/state')
        expect(r.exitCode).toBe(0)
        expect(r.stdout).toMatch(/^12\.\d+\nready\n$/)
        expect((await sbx.getInfo()).templateDigest).toBe(tpl.digest)
      }
      const [first, second] = made as [Sandbox, Sandbox]
      await first.files.write('/opt/app/state', 'changed\n')
      const snap = await first.createSnapshot()
      const forks = await first.fork({ count: 3 })
      made.push(...forks)
      for (const f of forks) expect(await f.files.read('/opt/app/state')).toBe('changed\n')
      await first.reset()
      expect(await first.files.read('/opt/app/state')).toBe('ready\n')
      // 64 MiB of disk: writing 100 MiB fails with EDQUOT inside, the sandbox and its siblings carry on.
      const full = await second.commands.run('dd if=/dev/zero of=/tmp/fill bs=1M count=100 2>&1')
      expect(full.stdout).toMatch(/quota exceeded/i)
      expect(full.exitCode).not.toBe(0)
      // The failed command's event says the layer was full; a command failing in a sandbox with room does not.
      const events = (await createClient(conn).listSandboxEvents({ id: second.sandboxId, limit: 100 })).items
      expect(events.filter((e) => e.kind === 'disk_full')).toEqual([expect.objectContaining({ data: expect.objectContaining({ diskMb: 64, diskLimitBytes: 64 * 1_048_576 }) })])
      expect((await second.commands.run('rm /tmp/fill && echo ok')).stdout).toBe('ok\n')
      const other = made[2]!
      expect((await other.commands.run('exit 3')).exitCode).toBe(3)
      expect((await createClient(conn).listSandboxEvents({ id: other.sandboxId, limit: 100 })).items.filter((e) => e.kind === 'disk_full')).toEqual([])
      expect((await made[2]!.commands.run('echo alive')).stdout).toBe('alive\n')
      for (const sbx of made.splice(0)) await sbx.kill()
      await Snapshot.delete(snap.id, conn)
      await Template.delete('debian-app', conn)
      // Fork points go with the reaper once unused; the test deletes them the same way an operator would.
      for (const s of (await Snapshot.list(conn)).items) await Snapshot.delete(s.id, conn)
      expect(await cp.svc.runtime.list()).toEqual([])
      expect(await cp.svc.runtime.snapshots!.list()).toEqual([])
    } finally {
      for (const sbx of made) await sbx.kill().catch(() => {})
      await cp.close()
      await destroyAll(join(home, 'runtime'), cgroupName)
      expect(leftovers(cgroupName)).toEqual([])
      await rm(home, { recursive: true, force: true })
    }
  })

  it('no or a wrong password is refused; an unknown image is not_found; the registry stopped is runtime_unavailable', async () => {
    const storeDir = join(work, 'store4')
    const image = `${host}/tidepool/debian:v1`
    await expect(importImage({ kind: 'registry', image, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ reason: 'auth_failed' })
    await expect(importImage({ kind: 'registry', image, auth: { ...auth, password: 'wrong' }, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({
      reason: 'auth_failed',
      code: 'invalid_request',
    })
    await expect(importImage({ kind: 'registry', image: `${host}/tidepool/none:v1`, auth, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'not_found' })
    registry?.kill('SIGTERM')
    await new Promise((r) => registry?.once('exit', r))
    registry = undefined
    await expect(importImage({ kind: 'registry', image: `${host}/tidepool/debian:v1`, insecureHttp: true }, { storeDir, uidBase })).rejects.toMatchObject({ code: 'runtime_unavailable' })
  })
})
