import { X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { certifiableHost, TidepoolCa } from './ca.js'

const dir = mkdtempSync(join(tmpdir(), 'tidepool-ca-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('TidepoolCa', () => {
  it('only plain DNS names reach openssl', () => {
    expect(certifiableHost('api.example.com')).toBe(true)
    for (const bad of ['', 'a/CN=evil', 'a,b', 'A.example.com', '-x', '.x', 'a b', 'a\nb', 'x'.repeat(254)]) expect(certifiableHost(bad)).toBe(false)
  })

  it('issues a leaf for the name, signed by the CA, and keeps the CA key 0600; the same CA opens again', async () => {
    const ca = await TidepoolCa.loadOrCreate(dir)
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600)
    const leaf = await ca.leafFor('api.example.com')
    const cert = new X509Certificate(leaf.cert)
    const root = new X509Certificate(ca.certPem)
    expect(cert.checkHost('api.example.com')).toBe('api.example.com')
    expect(cert.checkHost('other.example.com')).toBeUndefined()
    expect(cert.verify(root.publicKey)).toBe(true)
    expect(root.ca).toBe(true)
    expect(await ca.leafFor('api.example.com')).toBe(leaf) // made once per host
    await expect(ca.leafFor('a/CN=x')).rejects.toThrow('not a plain DNS name')
    expect((await TidepoolCa.loadOrCreate(dir)).certPem).toBe(ca.certPem)
  })
})
