/** @module policy/load — reads Cedar policy files, validates them against the schema, names each policy by its @id. */
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { AppError } from '../core/errors.js'
import { cedar, type DetailedError } from './cedar.js'

export interface PolicySource {
  /** Where the text came from (a path, or the built-in default's name). */
  file: string
  text: string
}

/** A validated policy set: each policy's text under its id, and whether any reads the resource. */
export interface LoadedPolicies {
  policies: Record<string, string>
  ids: string[]
  files: string[]
  /** Some policy constrains or reads the resource: sandboxes' labels must be looked up for a decision. */
  readsResource: boolean
}

/** `file:line:col` of a byte offset into a file's text (Cedar reports UTF-8 byte offsets). */
export function locate(file: string, text: string, offset: number): string {
  const before = Buffer.from(text, 'utf8').subarray(0, offset).toString('utf8')
  const lines = before.split('\n')
  return `${file}:${lines.length}:${lines[lines.length - 1]!.length + 1}`
}

function describe(file: string, text: string, e: DetailedError): string {
  const at = e.sourceLocations?.[0]
  const where = at ? locate(file, text, at.start) : file
  const label = at?.label ? ` (${at.label})` : ''
  return `${where}: ${e.message}${label}${e.help ? `; ${e.help}` : ''}`
}

/** Every problem of one file's policies against the schema, each as `file:line:col: message`; empty when it is valid. */
export function problemsOf(src: PolicySource, schema: string): string[] {
  const answer = cedar().validate({ schema, policies: { staticPolicies: src.text }, validationSettings: { mode: 'strict' } })
  if (answer.type === 'failure') return answer.errors.map((e) => describe(src.file, src.text, e))
  return onePerPlace(answer.validationErrors.map((v) => describe(src.file, src.text, v.error)))
}

/** Cedar reports one error per action a policy applies to: one per place is kept, with how many more there were. */
function onePerPlace(problems: string[]): string[] {
  const byPlace = new Map<string, { first: string; more: number }>()
  for (const p of problems) {
    const place = p.slice(0, p.indexOf(': '))
    const seen = byPlace.get(place)
    if (seen) seen.more++
    else byPlace.set(place, { first: p, more: 0 })
  }
  return [...byPlace.values()].map((v) => (v.more > 0 ? `${v.first} (and ${v.more} more like it there)` : v.first))
}

/**
 * Validates every source and joins their policies into one set. Any problem (a parse error, a schema
 * violation, a template, two policies with one id) refuses the whole set with every problem named.
 */
export function loadPolicies(sources: readonly PolicySource[], schema: string): LoadedPolicies {
  const problems: string[] = []
  const policies: Record<string, string> = Object.create(null) as Record<string, string>
  let readsResource = false
  for (const src of sources) {
    const found = problemsOf(src, schema)
    if (found.length > 0) {
      problems.push(...found)
      continue
    }
    const parts = cedar().policySetTextToParts(src.text)
    if (parts.type === 'failure') {
      problems.push(...parts.errors.map((e) => describe(src.file, src.text, e)))
      continue
    }
    if (parts.policy_templates.length > 0) problems.push(`${src.file}: policy templates are not supported; write static policies`)
    parts.policies.forEach((text, i) => {
      const json = cedar().policyToJson(text)
      if (json.type === 'failure') return void problems.push(...json.errors.map((e) => describe(src.file, text, e)))
      const id = json.json.annotations?.id ?? `${basename(src.file)}#${i}`
      if (id in policies) problems.push(`${src.file}: policy id ${JSON.stringify(id)} is used twice; give each policy its own @id("…")`)
      policies[id] = text
      readsResource ||= json.json.resource.op !== 'All' || JSON.stringify(json.json.conditions).includes('"resource"')
    })
  }
  if (problems.length > 0)
    throw new AppError(
      'invalid_request',
      `invalid policy: ${problems.join('; ')}`,
      problems.map((message) => ({ path: 'policy', message })),
    )
  return { policies, ids: Object.keys(policies), files: sources.map((s) => s.file), readsResource }
}

/** The policy files' texts; a missing or unreadable file is an error naming it. */
export function readSources(files: readonly string[]): PolicySource[] {
  return files.map((file) => {
    try {
      return { file, text: readFileSync(file, 'utf8') }
    } catch (err) {
      throw new AppError('invalid_request', `policy file ${file} cannot be read: ${(err as Error).message}`, [{ path: 'policy.files', message: file }], { cause: err })
    }
  })
}
