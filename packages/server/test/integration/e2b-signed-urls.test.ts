/**
 * Signed file URLs (`sandbox.uploadUrl()` / `downloadUrl()`) of the unmodified `e2b` npm SDK against a
 * real tidepool: fetched by the SDK's own URL with plain fetch (no header, no token), with and without
 * an expiration; expired, forged and reused-for-another-file URLs refused with stable codes.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Sandbox } from 'e2b'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { e2bEnv } from '../../src/cli/commands/e2b.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { destroyAll, skipReason } from './support/host.js'

const cgroupName = `tidepool-it-e2bsig-${process.pid}`
const vars = ['E2B_API_KEY', 'E2B_API_URL', 'E2B_SANDBOX_URL'] as const
let home: string
let cp: ControlPlane
let baseUrl: string
const saved: Record<string, string | undefined> = {}

describe.skipIf(skipReason)('e2b signed file URLs against tidepool (real runtime)', () => {
  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-e2bsig-'))
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, defaults: { cpu: 1, memoryMb: 256, pids: 128 } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    baseUrl = (await cp.listen()).url
    for (const [k, v] of Object.entries(e2bEnv(baseUrl, cp.adminToken!))) {
      saved[k] = process.env[k]
      process.env[k] = v
    }
  })
  afterAll(async () => {
    for (const k of vars) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    rmSync(home, { recursive: true, force: true })
  })

  it('downloadUrl and uploadUrl work with plain fetch; expired, forged and misused URLs are refused', async () => {
    const sbx = await Sandbox.create()
    try {
      await sbx.files.write('/home/user/signed.txt', 'signed content\n')
      const down = await sbx.downloadUrl('/home/user/signed.txt')
      expect(new URL(down).searchParams.get('signature')).toMatch(/^v1_/)
      const got = await fetch(down)
      expect(got.status).toBe(200)
      expect(await got.text()).toBe('signed content\n')

      // An upload URL with an expiration: a multipart POST with nothing but the URL.
      const up = await sbx.uploadUrl('/home/user/uploaded.txt', { useSignatureExpiration: 600 })
      expect(Number(new URL(up).searchParams.get('signature_expiration'))).toBeGreaterThan(Date.now() / 1000)
      const form = new FormData()
      form.append('file', new Blob(['from a browser\n']), 'uploaded.txt')
      const put = await fetch(up, { method: 'POST', body: form })
      expect(put.status).toBe(200)
      expect(await sbx.files.read('/home/user/uploaded.txt')).toBe('from a browser\n')

      const refused = async (url: string, init?: RequestInit) => {
        const r = await fetch(url, init)
        return { status: r.status, ...((await r.json()) as { error: string; reason?: string }) }
      }
      // A download URL does not read another file, nor write; an upload URL does not read.
      const other = new URL(down)
      other.searchParams.set('path', '/home/user/uploaded.txt')
      expect(await refused(other.toString())).toMatchObject({ status: 401, error: 'unauthenticated', reason: 'signature_invalid' })
      expect(await refused(down, { method: 'POST', body: 'x' })).toMatchObject({ status: 401, reason: 'signature_invalid' })
      expect(await refused(up)).toMatchObject({ status: 401, reason: 'signature_invalid' })
      // A forged signature, and an expiration pushed later than signed.
      const forged = new URL(down)
      forged.searchParams.set('signature', 'v1_' + 'A'.repeat(43))
      expect(await refused(forged.toString())).toMatchObject({ status: 401, reason: 'signature_invalid' })
      const later = new URL(up)
      later.searchParams.set('signature_expiration', String(Number(later.searchParams.get('signature_expiration')) + 3600))
      expect(await refused(later.toString(), { method: 'POST', body: form })).toMatchObject({ status: 401, reason: 'signature_invalid' })
      // Expired: signed with an expiration already past (the SDK takes seconds from now; -1 is the past).
      const expired = await sbx.downloadUrl('/home/user/signed.txt', { useSignatureExpiration: -1 })
      expect(await refused(expired)).toMatchObject({ status: 401, error: 'unauthenticated', reason: 'signature_expired' })
      // Nothing was written by the refused uploads.
      expect(await sbx.files.read('/home/user/uploaded.txt')).toBe('from a browser\n')
    } finally {
      await sbx.kill()
    }
    // The sandbox is gone: its URLs fetch nothing.
    const after = await fetch(await sbx.downloadUrl('/home/user/signed.txt'))
    expect(after.status).toBeGreaterThanOrEqual(400)
  })
})
