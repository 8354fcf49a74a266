/**
 * @module kit/network-seam — what the sandboxes area (or main.ts) asks of the network area, without
 * importing it: serve a sandbox's egress from its address, stop serving it, and the variables and CA a
 * sandbox needs to use the proxy. The network area implements it (NetworkService.seam()).
 */

/** One level of egress policy, in sandbox-runtime's keys. */
export interface DomainPolicyInput {
  allowedDomains: readonly string[]
  deniedDomains: readonly string[]
}

export interface NetworkSeam {
  /**
   * Serve a sandbox whose connections to the proxy come from `sourceIp` (its veth address). `policy`
   * is the sandbox level (create's `network`), `sandbox.templatePolicy` the template level; the project
   * level comes from config. Call on create (and again after a restart for adopted sandboxes). An
   * undefined `sourceIp` records the policy only (GET/PATCH work); call again with the address once
   * the runtime has given the sandbox one.
   */
  attach(
    sandbox: { id: string; projectId: string; template?: string | undefined; templatePolicy?: DomainPolicyInput | undefined },
    sourceIp: string | undefined,
    policy?: DomainPolicyInput,
  ): Promise<void>
  /** Stop serving a sandbox (idempotent). Call on destroy, however it ends. */
  detach(sandboxId: string): Promise<void>
  /** HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (socks5h://), their lower-case forms and NO_PROXY, for the sandbox's env; {} when no proxy runs. */
  proxyEnv(): Record<string, string>
  /** The PEM of tidepool's CA, for sandboxes' trust stores (SSL_CERT_FILE); undefined until TLS termination is configured. */
  caCertificatePem(): string | undefined
}
