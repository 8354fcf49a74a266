/** @module templates/oci/www-authenticate — `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` by a linear scan (no regex). */

export interface Challenge {
  scheme: string
  params: Map<string, string>
}

/** The first challenge of the header (registries send one). Quoted values may hold commas and `\"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const h = header.slice(0, 8192)
  let i = 0
  while (i < h.length && h[i] === ' ') i++
  const start = i
  while (i < h.length && h[i] !== ' ') i++
  const scheme = h.slice(start, i).toLowerCase()
  if (!scheme) return undefined
  const params = new Map<string, string>()
  while (i < h.length) {
    while (i < h.length && (h[i] === ' ' || h[i] === ',')) i++
    const keyStart = i
    while (i < h.length && h[i] !== '=' && h[i] !== ',') i++
    const key = h.slice(keyStart, i).trim().toLowerCase()
    if (h[i] !== '=') continue
    i++
    let value = ''
    if (h[i] === '"') {
      i++
      while (i < h.length && h[i] !== '"') {
        if (h[i] === '\\' && i + 1 < h.length) i++
        value += h[i]
        i++
      }
      i++
    } else {
      const vStart = i
      while (i < h.length && h[i] !== ',') i++
      value = h.slice(vStart, i).trim()
    }
    if (key) params.set(key, value)
  }
  return { scheme, params }
}
