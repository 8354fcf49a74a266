/** @module templates/handlers — handlers of the template operations: one call into the templates service each, scoped to the caller's project. */
import type { TemplatesOpName } from '@tidepool/sdk'
import { StreamResult } from '../kit/context.js'
import { decodeCursor } from '../kit/cursor.js'
import type { HandlerTable } from '../kit/handler-table.js'
import { buildProgress } from './progress-stream.js'
import type { TemplateService } from './service.js'

/** The services the templates area's handlers use. */
export interface TemplatesAreaServices {
  templates: TemplateService
}

export const templatesHandlers: HandlerTable<TemplatesOpName, TemplatesAreaServices> = {
  buildTemplate: async (i, ctx, svc) => {
    const who = { project: ctx.principal.project, admin: ctx.principal.scopes.includes('admin') }
    if (ctx.stream) return new StreamResult(buildProgress((onProgress) => svc.templates.build(who, i, { onProgress, signal: ctx.signal })))
    return svc.templates.build(who, i, { signal: ctx.signal })
  },
  listTemplates: async (i, ctx, svc) => svc.templates.list(ctx.principal.project, { limit: i.limit, after: decodeCursor(i.nextToken) }),
  getTemplate: async (i, ctx, svc) => svc.templates.get(ctx.principal.project, i.name),
  deleteTemplate: async (i, ctx, svc) => svc.templates.delete(ctx.principal.project, i.name),
  getTemplateBuildLog: async (i, ctx, svc) => svc.templates.buildLog(ctx.principal.project, i.name, i.id),
}
