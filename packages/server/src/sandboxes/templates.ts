/** @module sandboxes/templates — the built-in templates, and the resolver sandboxes use until the templates area provides one. */
import { createHash } from 'node:crypto'
import { AppError } from '../core/errors.js'
import type { ResolvedTemplate, TemplateResolver } from '../kit/template-seam.js'

export interface TemplateInfo {
  name: string
  description: string
  rootfs: string
  createdAt: string
}

const builtIn: TemplateInfo[] = [
  {
    name: 'default',
    description: "The host's system directories (/usr and its links, a minimal /etc), read-only below a private writable layer.",
    rootfs: 'host',
    createdAt: '1970-01-01T00:00:00.000Z',
  },
]

export function listTemplates(): TemplateInfo[] {
  return builtIn
}

/** The built-in templates (`base` is an alias of `default`), the same for every project. */
export const builtInTemplates: TemplateResolver = {
  async resolve(_project: string, name: string): Promise<ResolvedTemplate> {
    const t = builtIn.find((x) => x.name === name || (name === 'base' && x.name === 'default'))
    if (!t) {
      throw new AppError('invalid_request', `template ${JSON.stringify(name)} does not exist; available: ${builtIn.map((x) => x.name).join(', ')}`, [{ path: 'template', message: 'unknown template' }])
    }
    // A digest of what the runtime mounts: the host root has no layers, so it is the same everywhere.
    const digest = `sha256:${createHash('sha256').update(`rootfs:${t.rootfs}`).digest('hex')}`
    return { spec: { name: t.name, rootfs: t.rootfs }, ref: { name: t.name, digest, layers: [] }, env: {} }
  },
}
