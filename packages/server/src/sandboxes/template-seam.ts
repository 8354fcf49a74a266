/**
 * @module sandboxes/template-seam — the one place the sandboxes area reaches the templates area: the
 * types of the seam (templates/resolve.ts). main.ts hands a TemplateResolver in; nothing else crosses.
 */
export type { ResolvedTemplate, TemplateResolver, TemplateUsage } from '../templates/resolve.js'
