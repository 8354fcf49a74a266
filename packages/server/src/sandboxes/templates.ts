/** @module sandboxes/templates — the templates sandboxes start from. */
import type { TemplateSpec } from '../runtime/runtime.js'
import { AppError } from '../core/errors.js'

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

export function resolveTemplate(name: string): TemplateSpec {
  const t = builtIn.find((x) => x.name === name || (name === 'base' && x.name === 'default'))
  if (!t) {
    throw new AppError('invalid_request', `template ${JSON.stringify(name)} does not exist; available: ${builtIn.map((x) => x.name).join(', ')}`, [
      { path: 'template', message: 'unknown template' },
    ])
  }
  return { name: t.name, rootfs: t.rootfs }
}
