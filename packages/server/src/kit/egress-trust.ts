/**
 * @module kit/egress-trust — tidepool's CA in a sandbox's trust: where TLS termination (credential
 * brokering over HTTPS) is configured, a sandbox with egress gets one bundle file — the system bundle of
 * its own root plus the CA — and the variables that point common tools at it.
 *
 * Why a bundle file and variables rather than the system store: the host template's /usr is the host's,
 * read-only, and `update-ca-certificates` may not exist in a rootfs; every TLS stack below honours one of
 * these variables (OpenSSL and Python's ssl: SSL_CERT_FILE; Node: NODE_EXTRA_CA_CERTS; requests:
 * REQUESTS_CA_BUNDLE; curl: CURL_CA_BUNDLE; git: GIT_SSL_CAINFO; pip: PIP_CERT).
 */
import type { Runtime, RuntimeRef } from '../runtime/runtime.js'

/** Inside the sandbox (its writable layer). */
export const CA_BUNDLE_PATH = '/etc/ssl/tidepool/ca-bundle.pem'

/** The variables naming the bundle. */
export function trustEnv(path: string = CA_BUNDLE_PATH): Record<string, string> {
  return { SSL_CERT_FILE: path, NODE_EXTRA_CA_CERTS: path, REQUESTS_CA_BUNDLE: path, CURL_CA_BUNDLE: path, GIT_SSL_CAINFO: path, PIP_CERT: path }
}

/**
 * Run as root with the CA's PEM on stdin: the first system bundle the root has (Debian, Fedora, Alpine
 * layouts), then the CA, written whole (a temporary file renamed) so no reader sees half a bundle.
 */
export const installScript = [
  'umask 022',
  'd=${1%/*}',
  'mkdir -p "$d"',
  '{ for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do if [ -r "$f" ]; then cat "$f"; echo; break; fi; done; cat; } > "$1.tmp"',
  'mv -f "$1.tmp" "$1"',
].join(' && ')

/** Writes the bundle into a running sandbox; throws (naming the exit) when it could not. */
export async function installTrust(runtime: Runtime, ref: RuntimeRef, caPem: string, path: string = CA_BUNDLE_PATH): Promise<void> {
  const h = runtime.exec(ref, {
    cmd: ['/bin/sh', '-c', installScript, 'sh', path],
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    user: 'root',
    timeoutMs: 30_000,
  })
  h.stdin.on('error', () => {})
  h.stdin.end(caPem)
  let err = ''
  h.stdout.resume()
  h.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)))
  const exit = await h.wait()
  if (exit.exitCode !== 0) throw new Error(`installing tidepool's CA bundle at ${path} exited with ${exit.exitCode}: ${err.trim()}`)
}

/** Removes the bundle and its folder (a build step's layer must not capture them). */
export async function removeTrust(runtime: Runtime, ref: RuntimeRef, path: string = CA_BUNDLE_PATH): Promise<void> {
  const h = runtime.exec(ref, { cmd: ['/bin/sh', '-c', 'rm -f -- "$1"; rmdir -- "${1%/*}" 2>/dev/null; true', 'sh', path], env: { PATH: '/usr/bin:/bin' }, user: 'root', timeoutMs: 30_000 })
  h.stdin.on('error', () => {})
  h.stdin.end()
  h.stdout.resume()
  h.stderr.resume()
  await h.wait()
}
