/**
 * @module http/port-target — which requests go to a port inside a sandbox, and what of them is forwarded
 * (pure). Two forms: the host name `<port>-<sandbox id>.sandbox.localhost[:<api port>]` (every path), and
 * the path `/v1/sandboxes/<id>/ports/<port>[/…]` (except `PUT …/public`, the operation that toggles public
 * exposure). Parsed by scanning, no regex; every part is bounded. The path form's id and port are taken as
 * they are: dispatch checks the token and scope first, then validates them (like every operation's input).
 */

/** Where the browser's token is kept after `?access_token=`: a host-only, HttpOnly cookie. */
export const PORT_COOKIE = 'tidepool_port_token'
export const ACCESS_TOKEN_PARAM = 'access_token'
/** The host-name form's suffix (RFC 6761: *.localhost resolves to loopback in browsers and curl). */
export const PORT_HOST_SUFFIX = '.sandbox.localhost'

export interface PortTarget {
  /** As the request named them: the path form's are validated by dispatch (after the token and scope). */
  id: string
  port: string
  form: 'host' | 'path'
  /** The path (and query, without access_token) the server inside receives. */
  forwardPath: string
  /** Where the cookie applies: '/' for the host form, the prefix for the path form. */
  cookiePath: string
  /** The access_token of the query, when it had one. */
  accessToken?: string
}

const MAX_HOST = 255
/** A path segment longer than this is no id or port (the route's own 404 answers it). */
const MAX_SEGMENT = 256
const PATH_PREFIX = '/v1/sandboxes/'

/** `sbx_` and 6-40 lowercase letters or digits (SandboxId's rule). */
function isSandboxId(s: string): boolean {
  if (s.length < 10 || s.length > 44 || !s.startsWith('sbx_')) return false
  for (let i = 4; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a))) return false
  }
  return true
}

/** A decimal port 1-65535 without leading zeros, else undefined. */
function portOf(s: string): number | undefined {
  if (s.length === 0 || s.length > 5 || s[0] === '0') return undefined
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x30 || s.charCodeAt(i) > 0x39) return undefined
  const n = Number(s)
  return n >= 1 && n <= 65_535 ? n : undefined
}

/** `<port>-<id>` of a Host header of the host-name form (any port after the name), else undefined. */
export function parsePortHost(host: string | undefined): { id: string; port: string } | undefined {
  if (!host || host.length > MAX_HOST) return undefined
  let name = host.toLowerCase()
  const colon = name.lastIndexOf(':')
  if (colon >= 0) name = name.slice(0, colon)
  if (name.endsWith('.')) name = name.slice(0, -1)
  if (!name.endsWith(PORT_HOST_SUFFIX)) return undefined
  const label = name.slice(0, -PORT_HOST_SUFFIX.length)
  const dash = label.indexOf('-')
  if (dash < 0) return undefined
  const port = portOf(label.slice(0, dash))
  const id = label.slice(dash + 1)
  return port !== undefined && isSandboxId(id) ? { id, port: String(port) } : undefined
}

/** `url` is the request target (path and query) as the client sent it. */
export function portTargetOf(method: string, host: string | undefined, url: string): PortTarget | undefined {
  const q = url.indexOf('?')
  const pathname = q < 0 ? url : url.slice(0, q)
  const query = q < 0 ? '' : url.slice(q + 1)
  const byHost = parsePortHost(host)
  if (byHost) return withQuery({ ...byHost, form: 'host', forwardPath: pathname.startsWith('/') ? pathname : `/${pathname}`, cookiePath: '/' }, query)
  if (!pathname.startsWith(PATH_PREFIX)) return undefined
  // <id>/ports/<port>[/rest]
  const rest = pathname.slice(PATH_PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash < 0) return undefined
  const id = rest.slice(0, slash)
  if (!rest.startsWith('/ports/', slash) || id.length === 0 || id.length > MAX_SEGMENT) return undefined
  const afterPorts = rest.slice(slash + '/ports/'.length)
  const end = afterPorts.indexOf('/')
  const port = end < 0 ? afterPorts : afterPorts.slice(0, end)
  if (port.length === 0 || port.length > MAX_SEGMENT) return undefined
  const below = end < 0 ? '' : afterPorts.slice(end)
  if (method === 'PUT' && below === '/public') return undefined // setPortPublic, an operation of its own
  const prefix = `${PATH_PREFIX}${id}/ports/${port}`
  return withQuery({ id, port, form: 'path', forwardPath: below === '' ? '/' : below, cookiePath: prefix }, query)
}

/** Appends the query without access_token (which never reaches the server inside), and notes the token. */
function withQuery(t: PortTarget, query: string): PortTarget {
  if (query === '') return t
  const params = new URLSearchParams(query)
  const token = params.get(ACCESS_TOKEN_PARAM)
  if (token === null) return { ...t, forwardPath: `${t.forwardPath}?${query}` }
  params.delete(ACCESS_TOKEN_PARAM)
  const left = params.toString()
  return { ...t, forwardPath: left ? `${t.forwardPath}?${left}` : t.forwardPath, accessToken: token }
}

/** The value of our cookie in a Cookie header, and the header without it (undefined when nothing is left). */
export function splitPortCookie(header: string | undefined): { token?: string; rest?: string } {
  if (!header) return {}
  let token: string | undefined
  const kept: string[] = []
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    const name = (eq < 0 ? part : part.slice(0, eq)).trim()
    if (name === PORT_COOKIE) token = part.slice(eq + 1).trim()
    else if (part.trim() !== '') kept.push(part.trim())
  }
  return { ...(token !== undefined ? { token } : {}), ...(kept.length > 0 ? { rest: kept.join('; ') } : {}) }
}
