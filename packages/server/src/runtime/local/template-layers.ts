/** @module runtime/local/template-layers — TemplateSpec.layers checked on the host and resolved into their root/ and usr/ parts. */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import type { TemplateSpec } from '../runtime.js'
import { type TemplateLayer, checkHostPath } from './mounts.js'
import { RuntimeError } from './runtime-error.js'

const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory()
  } catch {
    return false
  }
}

/**
 * Each layer of the template (lowest first, as given) as its `root/` and, when present, its `usr/`
 * (a SnapshotRef.layer has both for a host template). A layer that is no directory with a `root/`
 * in it is `invalid_request`, before anything of the sandbox is made.
 */
export function resolveLayers(template: TemplateSpec): TemplateLayer[] {
  return (template.layers ?? []).map((l, i) => {
    const what = `template ${template.name} layers[${i}]`
    const layer = checkHostPath(l, what)
    if (!isDir(layer)) throw new RuntimeError('invalid_request', `${what}: ${layer} does not exist (or is no directory); build the template again or drop the layer`)
    const root = join(layer, 'root')
    if (!isDir(root)) throw new RuntimeError('invalid_request', `${what}: ${layer} is not a layer (it has no root/ directory; a layer holds root/ and optionally usr/, as a snapshot's layer does)`)
    const usr = join(layer, 'usr')
    return isDir(usr) ? { root, usr } : { root }
  })
}
