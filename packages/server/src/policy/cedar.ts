/** @module policy/cedar — the subset of @cedar-policy/cedar-wasm (its Node.js build) that tidepool calls. */
import { createRequire } from 'node:module'
import type * as CedarWasm from '@cedar-policy/cedar-wasm/nodejs'

/** The Node.js build is CommonJS that loads its .wasm synchronously; required once, on first use. */
export type Cedar = Pick<
  typeof CedarWasm,
  'validate' | 'checkParseSchema' | 'policySetTextToParts' | 'policyToJson' | 'preparsePolicySet' | 'preparseSchema' | 'statefulIsAuthorized' | 'getCedarVersion'
>
export type { CedarValueJson, DetailedError, EntityJson } from '@cedar-policy/cedar-wasm/nodejs'

let loaded: Cedar | undefined

export function cedar(): Cedar {
  loaded ??= createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as Cedar
  return loaded
}
