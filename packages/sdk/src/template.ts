/**
 * @module template — `Template`: build, list, inspect and delete templates.
 *
 * ```ts
 * const t = await Template.build(
 *   { name: 'node-app', steps: [{ copy: { path: '/app/index.js', content: 'console.log(1)' } }, { run: 'node /app/index.js' }] },
 *   { onProgress: (e) => console.error(e.phase, e.line ?? '') },
 * )
 * const sbx = await Sandbox.create({ template: t.name })
 * ```
 */
import { ApiError, apiErrorFromResponse, errorShape } from './api-error.js'
import { encode } from './http-exchange.js'
import { readNdjson, STOP } from './ndjson.js'
import { operations } from './contract/operations.js'
import type { BuildTemplateInput, Template as TemplateInfo, TemplateBuildEvent } from './contract/templates.js'
import { clientFor, connectionOf, type ConnectionOptions } from './sandbox.js'

/** Options of {@link Template.build}. */
export interface TemplateBuildOptions extends ConnectionOptions {
  /**
   * Called for each progress event (a step starting, cached, its output lines, its snapshot). Streams
   * the build over NDJSON; with a prebuilt `client` (whose token this module cannot read) the build is
   * buffered and only the final `done` event is reported.
   */
  onProgress?: (e: TemplateBuildEvent) => void | Promise<void>
  /** Stops waiting (and, streamed, cancels the build's running step). */
  signal?: AbortSignal
}

/** Options of {@link Template.list}. */
export interface TemplateListOptions extends ConnectionOptions {
  limit?: number
  nextToken?: string
}

/** Templates of the caller's project. Static methods only: a template is data (see `TemplateInfo`). */
export class Template {
  private constructor() {}

  /** Builds (or, when nothing changed, returns at once from cache) the template `spec.name`. */
  static async build(spec: BuildTemplateInput, opts: TemplateBuildOptions = {}): Promise<TemplateInfo> {
    if (!opts.onProgress) return clientFor(opts).buildTemplate(spec, { signal: opts.signal })
    if (opts.client) {
      const t = await opts.client.buildTemplate(spec, { signal: opts.signal })
      await opts.onProgress({ step: spec.steps?.length ? spec.steps.length - 1 : -1, of: spec.steps?.length ?? 0, cached: t.lastBuild?.builtSteps === 0, phase: 'done', line: t.digest })
      return t
    }
    return streamBuild(spec, opts, opts.onProgress)
  }

  static async list(opts: TemplateListOptions = {}): Promise<{ items: TemplateInfo[]; nextToken?: string | undefined }> {
    return clientFor(opts).listTemplates({ limit: opts.limit, nextToken: opts.nextToken })
  }

  /** Inspect: layers with digests and sizes, base digest, last build and its log tail, live sandboxes using it. */
  static async get(name: string, opts: ConnectionOptions = {}): Promise<TemplateInfo> {
    return clientFor(opts).getTemplate({ name })
  }

  /** Idempotent; refused (`conflict`) while live sandboxes use the template. */
  static async delete(name: string, opts: ConnectionOptions = {}): Promise<void> {
    await clientFor(opts).deleteTemplate({ name })
  }
}

/** POST /v1/templates with Accept: application/x-ndjson; each line to onProgress, the last one `{ template }`. */
async function streamBuild(spec: BuildTemplateInput, opts: TemplateBuildOptions, onProgress: (e: TemplateBuildEvent) => void | Promise<void>): Promise<TemplateInfo> {
  const { baseUrl, token } = connectionOf(opts)
  let end = baseUrl.length
  while (end > 0 && baseUrl[end - 1] === '/') end--
  const req = encode(baseUrl.slice(0, end), 'buildTemplate', operations.buildTemplate, spec)
  const doFetch = opts.fetch ?? globalThis.fetch
  const res = await doFetch(req.url, {
    method: 'POST',
    body: req.body,
    headers: { ...opts.headers, authorization: `Bearer ${token}`, accept: 'application/x-ndjson, application/json;q=0.5', 'content-type': 'application/json' },
    signal: opts.signal,
  })
  if (!res.ok) throw apiErrorFromResponse(res, await res.text())
  if (!(res.headers.get('content-type') ?? '').includes('application/x-ndjson')) return (await res.json()) as TemplateInfo
  if (!res.body) throw new ApiError('internal', 'buildTemplate: the NDJSON response has no body')
  let template: TemplateInfo | undefined
  await readNdjson(res.body, async (value) => {
    const failed = errorShape(value)
    if (failed) throw new ApiError(failed.code as never, failed.message, { details: failed.details, requestId: failed.requestId ?? res.headers.get('x-request-id') ?? undefined })
    template = (value as { template?: TemplateInfo }).template
    if (template) return STOP
    await onProgress(value as TemplateBuildEvent)
    return undefined
  })
  if (template) return template
  throw new ApiError('network_error', 'buildTemplate: the stream ended before the final line (connection closed early?)')
}
