/** @module templates/oci/image-ref — `[host[:port]/]name[:tag][@sha256:…]`, checked character by character (no regex). */
import { isDigest } from './digest.js'
import { OciError } from './oci-error.js'

export interface ImageRef {
  /** host[:port] */
  registry: string
  /** repository path, e.g. library/debian */
  name: string
  /** a tag or a digest */
  reference: string
}

const isNameChar = (c: string) => (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c === '.' || c === '_' || c === '-' || c === '/'
const isTagChar = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '.' || c === '_' || c === '-'

export function parseImageRef(image: string): ImageRef {
  const bad = (why: string) => new OciError('bad_reference', `image ${JSON.stringify(image.slice(0, 300))}: ${why}`)
  if (image.length === 0 || image.length > 1024) throw bad('must be 1 to 1024 characters')
  let rest = image
  let reference = 'latest'
  const at = rest.indexOf('@')
  if (at >= 0) {
    reference = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isDigest(reference)) throw bad('digest must be sha256:<64 lowercase hex>')
  }
  const slash = rest.indexOf('/')
  const first = slash >= 0 ? rest.slice(0, slash) : ''
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
  const registry = hasHost ? first : 'registry-1.docker.io'
  let name = hasHost ? rest.slice(slash + 1) : rest
  const colon = name.lastIndexOf(':')
  if (colon >= 0) {
    const tag = name.slice(colon + 1)
    name = name.slice(0, colon)
    if (at < 0) reference = tag
    if (tag.length === 0 || tag.length > 128 || ![...tag].every(isTagChar)) throw bad('tag must be 1-128 of [A-Za-z0-9._-]')
  }
  if (!hasHost && !name.includes('/')) name = `library/${name}`
  if (name.length === 0 || name.length > 255 || ![...name].every(isNameChar) || name.startsWith('/') || name.endsWith('/') || name.includes('//')) {
    throw bad('repository must be lowercase [a-z0-9._-] components separated by /')
  }
  for (const c of registry) if (!(isTagChar(c) || c === ':' || c === '[' || c === ']')) throw bad('registry host has an invalid character')
  return { registry, name, reference }
}

/** Loopback hosts, the only ones `insecureHttp` may talk plain HTTP to. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : (registry.split(':')[0] ?? '')
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}
