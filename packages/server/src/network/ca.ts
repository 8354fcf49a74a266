/**
 * @module network/ca — tidepool's egress CA, for the hosts whose credential rule opts into TLS
 * termination (the sandbox trusts this CA, so the proxy can add headers inside HTTPS). Node's crypto
 * cannot issue X.509 certificates, so the `openssl` CLI does (with an explicit minimal environment);
 * the CA key stays in a 0600 file under the data directory and leaf certificates are made per host,
 * on first use, and kept in memory (bounded).
 */
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { childEnv } from '../core/child-env.js'

const run = promisify(execFile)
const MAX_LEAVES = 1024

/** Only plain DNS names get a certificate (the name goes into openssl's arguments). */
export function certifiableHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i)
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e
    if (!ok) return false
  }
  return !host.startsWith('.') && !host.startsWith('-')
}

export interface Leaf {
  key: string
  cert: string
}

export class TidepoolCa {
  readonly #leaves = new Map<string, Promise<Leaf>>()

  private constructor(
    private readonly dir: string,
    readonly certPem: string,
  ) {}

  /** The CA in `dir` (ca.key 0600, ca.pem), created on first use. */
  static async loadOrCreate(dir: string): Promise<TidepoolCa> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const key = join(dir, 'ca.key')
    const cert = join(dir, 'ca.pem')
    if (!existsSync(key) || !existsSync(cert)) {
      // prettier-ignore
      await openssl([
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '3650', '-subj', '/CN=tidepool egress CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', key, '-out', cert,
      ])
    }
    chmodSync(key, 0o600)
    return new TidepoolCa(dir, readFileSync(cert, 'utf8'))
  }

  /** A certificate for `host` signed by this CA (made once per host). */
  leafFor(host: string): Promise<Leaf> {
    if (!certifiableHost(host)) return Promise.reject(new Error(`no certificate for ${JSON.stringify(host)}: not a plain DNS name`))
    let leaf = this.#leaves.get(host)
    if (!leaf) {
      if (this.#leaves.size >= MAX_LEAVES) this.#leaves.delete(this.#leaves.keys().next().value!)
      leaf = this.#issue(host)
      leaf.catch(() => this.#leaves.delete(host))
      this.#leaves.set(host, leaf)
    }
    return leaf
  }

  async #issue(host: string): Promise<Leaf> {
    const tmp = mkdtempSync(join(this.dir, 'leaf-'))
    try {
      // prettier-ignore
      await openssl([
        'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`, '-addext', 'basicConstraints=critical,CA:FALSE', '-addext', 'extendedKeyUsage=serverAuth', '-CA', join(this.dir, 'ca.pem'), '-CAkey', join(this.dir, 'ca.key'), '-keyout', join(tmp, 'k.pem'), '-out', join(tmp, 'c.pem'),
      ])
      return { key: readFileSync(join(tmp, 'k.pem'), 'utf8'), cert: readFileSync(join(tmp, 'c.pem'), 'utf8') }
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  }
}

async function openssl(args: string[]): Promise<void> {
  await run('openssl', args, { env: childEnv(), timeout: 30_000, maxBuffer: 1024 * 1024 })
}
