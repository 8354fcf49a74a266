/** @module http/openapi — the OpenAPI 3.1 document, generated from the operation table. */
import { errorStatus, ErrorBody, operations, type Operation } from '@tidepool/sdk'
import { z } from 'zod'
import { createDocument } from 'zod-openapi'

const errorResponses = Object.fromEntries(
  [...new Set(Object.values(errorStatus))].map((status) => [
    String(status),
    {
      description: `Error (${Object.entries(errorStatus)
        .filter(([, s]) => s === status)
        .map(([c]) => c)
        .join(', ')})`,
      content: { 'application/json': { schema: ErrorBody } },
    },
  ]),
)

export function openApiDocument(): ReturnType<typeof createDocument> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const [name, op] of Object.entries(operations) as [string, Operation][]) {
    const pathParams = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)
    const shape = op.input.shape as Record<string, z.ZodType>
    const pick = (keys: string[]) => z.object(Object.fromEntries(keys.filter((k) => shape[k]).map((k) => [k, shape[k]!])))
    const rest = Object.keys(shape).filter((k) => !pathParams.includes(k) && k !== op.rawBody && !(op.query && k in op.query))
    const inQuery = op.method === 'GET' || op.method === 'DELETE' || op.rawBody ? rest.filter((k) => !isRecord(shape[k]!)) : []
    const inBody = op.method === 'GET' || op.method === 'DELETE' || op.rawBody ? [] : rest
    const okContent =
      op.output === 'empty'
        ? undefined
        : op.output === 'raw'
          ? { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } }
          : {
              'application/json': { schema: op.output },
              ...(op.stream ? { 'application/x-ndjson': { schema: { type: 'string', description: 'One JSON object per line: {stream,data} chunks, then the result.' } } } : {}),
              ...(op.markdown ? { 'text/markdown': { schema: { type: 'string' } } } : {}),
            }
    const operation = {
      operationId: name,
      summary: op.summary,
      tags: op.tags,
      security: [{ bearer: [] }],
      'x-tidepool-scope': op.scope,
      requestParams: {
        ...(pathParams.length ? { path: pick(pathParams) } : {}),
        ...(inQuery.length || op.query ? { query: pick(inQuery) } : {}),
      },
      ...(inBody.length ? { requestBody: { content: { 'application/json': { schema: pick(inBody) } } } } : {}),
      ...(op.rawBody ? { requestBody: { content: { [op.rawContentType ?? 'application/octet-stream']: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      responses: {
        [String(op.status ?? 200)]: { description: op.summary, ...(okContent ? { content: okContent } : {}) },
        ...errorResponses,
      },
    }
    const openapiPath = op.query ? `${op.path}?${new URLSearchParams(op.query).toString()}` : op.path
    paths[openapiPath] ??= {}
    paths[openapiPath]![op.method.toLowerCase()] = operation
  }
  return createDocument({
    openapi: '3.1.0',
    info: { title: 'tidepool API', version: '1.0.0', description: 'Ephemeral sandboxes and the feedback loop. All /v1 routes need Authorization: Bearer <token>.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths: paths as never,
  })
}

function isRecord(t: z.ZodType): boolean {
  const inner = t instanceof z.ZodOptional || t instanceof z.ZodDefault ? (t.def as unknown as { innerType: z.ZodType }).innerType : t
  return inner instanceof z.ZodRecord
}
