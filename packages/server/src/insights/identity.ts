/** @module insights/identity — stable test identity (framework + normalised file/suite + name), variants and code keys. */
import { createHash } from 'node:crypto'

// Workspace prefixes of common CI runners: stripped so the same test has the same id on every runner.
const workspacePrefixes: RegExp[] = [
  /^\/home\/runner\/work\/[^/]+\/[^/]+\//, // GitHub Actions (Linux)
  /^\/Users\/runner\/work\/[^/]+\/[^/]+\//, // GitHub Actions (macOS)
  /^[A-Za-z]:\/(?:a|actions-runner\/_work)\/[^/]+\/[^/]+\//, // GitHub Actions (Windows)
  /^\/__w\/[^/]+\/[^/]+\//, // GitHub Actions container jobs
  /^\/github\/workspace\//,
  /^\/builds\/(?:[^/]+\/)+?[^/]+\/(?=(?:src|test|tests|lib|packages|app|spec|pkg|cmd|internal)\/)/, // GitLab
  /^\/builds\/[^/]+\/[^/]+\//,
  /^\/(?:var\/lib\/jenkins|home\/jenkins\/agent)\/workspace\/[^/]+\//, // Jenkins
  /^\/buildkite\/builds\/[^/]+\/[^/]+\/[^/]+\//,
  /^\/opt\/atlassian\/pipelines\/agent\/build\//,
  /^\/drone\/src\//,
  /^\/workspace\//,
  /^\/(?:private\/)?(?:tmp|var\/folders\/[^/]+\/[^/]+\/T)\/[^/]+\//, // temp dirs
]

/** Forward slashes, no `./`, no workspace prefix (the given root, else a known CI layout). */
export function normalizePath(p: string, root?: string): string {
  let s = p.trim().replace(/\\/g, '/')
  if (root) {
    const r = root.replace(/\\/g, '/').replace(/(?<!\/)\/+$/, '')
    if (r && s.startsWith(`${r}/`)) s = s.slice(r.length + 1)
  }
  for (const re of workspacePrefixes) {
    const m = re.exec(s)
    if (m) {
      s = s.slice(m[0].length)
      break
    }
  }
  while (s.startsWith('./')) s = s.slice(2)
  return s.replace(/\/{2,}/g, '/')
}

function looksLikePath(s: string): boolean {
  return s.startsWith('/') || /^[A-Za-z]:[\\/]/.test(s) || s.startsWith('./') || s.includes('\\')
}

/** A suite name that is a path (Jest, Vitest, Playwright) is normalised like a file. */
export function normalizeSuite(s: string, root?: string): string {
  return looksLikePath(s) ? normalizePath(s, root) : s.trim()
}

/** `t_` + 16 hex of SHA-256 over framework, file, suite and name. */
export function testIdOf(framework: string, file: string, suite: string, name: string): string {
  return `t_${createHash('sha256').update(`${framework}\u0000${file}\u0000${suite}\u0000${name}`).digest('hex').slice(0, 16)}`
}

/** Canonical `k=v,k=v` (sorted keys) of a variant; '' for none. */
export function variantKeyOf(variant: Record<string, string> | undefined): string {
  if (!variant) return ''
  return Object.keys(variant)
    .sort()
    .map((k) => `${k}=${variant[k]}`)
    .join(',')
}

/** Parses `os=linux,node=20` (CLI flag form). */
export function parseVariant(s: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of s.split(',')) {
    const t = part.trim()
    if (!t) continue
    const eq = t.indexOf('=')
    if (eq <= 0) throw new Error(`variant entries look like key=value (got "${t}")`)
    out[t.slice(0, eq).trim()] = t.slice(eq + 1).trim()
  }
  return out
}
