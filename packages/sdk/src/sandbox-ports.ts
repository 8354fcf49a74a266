/** @module sandbox-ports — `sbx.ports`: the URLs of servers listening inside a sandbox, and public exposure. */
import type { Client } from './client.js'
import type { PortExposure } from './contract/ports.js'

/** The host-name form's suffix (*.localhost resolves to loopback in browsers and curl). */
export const portHostSuffix = '.sandbox.localhost'

/**
 * `<port>-<id>.sandbox.localhost[:<api port>]`: the host (no scheme) under which the API server relays
 * to `port` inside sandbox `id` (E2B's getHost shape). The API port is `baseUrl`'s, left out when the
 * URL has none (the scheme's default). Pure.
 */
export function portHost(baseUrl: string, id: string, port: number): string {
  const api = new URL(baseUrl)
  return `${port}-${id}${portHostSuffix}${api.port ? `:${api.port}` : ''}`
}

/**
 * `sbx.ports`: a server inside the sandbox on port P (also one bound to its 127.0.0.1 only) is reached
 * through the API server with the caller's token: HTTP, streamed responses and WebSockets.
 */
export class Ports {
  constructor(
    private readonly client: Client,
    private readonly id: string,
  ) {}

  /**
   * The URL of `port`: `http://<port>-<id>.sandbox.localhost:<api port>/` (default; the page's own
   * absolute links work), or with `{ form: 'path' }` `<baseUrl>/v1/sandboxes/<id>/ports/<port>/`.
   * Send the token as `Authorization: Bearer`, or once as `?access_token=` from a browser.
   */
  url(port: number, opts: { form?: 'host' | 'path' } = {}): string {
    if (opts.form === 'path') return `${this.client.baseUrl}/v1/sandboxes/${this.id}/ports/${port}/`
    return `${new URL(this.client.baseUrl).protocol}//${portHost(this.client.baseUrl, this.id, port)}/`
  }

  /** The host of `port` without scheme (what `sbx.getHost(port)` returns). */
  host(port: number): string {
    return portHost(this.client.baseUrl, this.id, port)
  }

  /** Let token-less requests reach `port` on its host-name URL (`false` turns it off); ends with the sandbox. */
  async setPublic(port: number, enabled = true): Promise<PortExposure> {
    return this.client.setPortPublic({ id: this.id, port, enabled })
  }
}
