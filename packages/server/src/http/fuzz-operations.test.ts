/**
 * Hostile input for EVERY operation of the operation table, with every scope and with none, through
 * the in-process HTTP app (FakeRuntime, :memory: store). Deterministic (seeded PRNG), bounded (about
 * 2 100 requests). Asserts, per request: a coded 4xx whose status matches its code (never a 5xx, never
 * a hang); and over the run: Object/Array/Function prototypes unchanged, no state changed (every table
 * but the audit log, the runtime's sandboxes and execs), and the audit chain still verifies.
 */
import { errorStatus, operations, type Operation, type OpName } from '@tidepool/sdk'
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FakeRuntime } from '../runtime/fake.js'
import { testPlane, type TestPlane } from '../testing/control-plane.js'
import { mulberry32 } from '../core/prng.js'

const prng = mulberry32
const rand = prng(0x7d1e9)
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
const int = (n: number) => Math.floor(rand() * n)

const protoKeys = ['__proto__', 'constructor', 'prototype'] as const
const hugeString = 'A'.repeat(200_000)
const names = Object.keys(operations) as OpName[]
const opOf = (n: OpName) => operations[n] as Operation
const pathParams = (op: Operation) => [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!)
const fieldsOf = (op: Operation) => Object.keys(op.input.shape).filter((f) => !pathParams(op).includes(f) && f !== op.rawBody)
const hasJsonBody = (op: Operation) => !op.rawBody && op.method !== 'GET' && op.method !== 'DELETE'

/** A JSON text `{"__proto__":{"X":1}}`-like object nested `depth` levels down (JSON.parse keeps __proto__ as an own key). */
function protoValue(depth: number): unknown {
  let v: unknown = JSON.parse(`{"${pick(protoKeys)}":{"X":1,"polluted":true}}`)
  for (let i = 0; i < depth; i++) v = rand() < 0.5 ? { [`k${i}`]: v } : [v]
  return v
}
function deepValue(depth: number): unknown {
  let v: unknown = 'leaf'
  for (let i = 0; i < depth; i++) v = rand() < 0.5 ? { d: v } : [v]
  return v
}
/** Values of every JSON type, some extreme: used where the field's own schema rejects them. */
const candidates: (() => unknown)[] = [
  () => -1,
  () => 1e308,
  () => 0.5,
  () => '',
  () => 'x',
  () => hugeString,
  () => true,
  () => null,
  () => [],
  () => [1, 'a', null],
  () => ({}),
  () => ({ a: { b: 1 } }),
  () => '../../etc/passwd',
  () => '\u0000',
]
/** A value `schema` rejects, or undefined when every candidate happens to be valid. */
function wrongValue(schema: { safeParse(v: unknown): { success: boolean } }): unknown {
  const start = int(candidates.length)
  for (let i = 0; i < candidates.length; i++) {
    const v = candidates[(start + i) % candidates.length]!()
    if (!schema.safeParse(v).success) return v
  }
  return undefined
}

interface Req {
  what: string
  method: string
  path: string
  query: string[]
  body?: string | Uint8Array
  headers?: Record<string, string>
}

const hostilePathValues = ['__proto__', 'constructor', 'prototype', '%ED%A0%80', '%FF', 'x'.repeat(5000), '..%2F..%2Fetc', '%00', 'sbx_%E2%80%AE']

/** One request to `op` with at least one hostile part (so none of them may succeed). */
function hostileRequest(op: Operation, sandboxId: string): Req {
  const params = pathParams(op)
  const fields = fieldsOf(op)
  const query: string[] = []
  let body: string | Uint8Array | undefined
  const headers: Record<string, string> = {}
  let what: string
  // Path: a real sandbox id (so a handler would act if the rest were accepted) or a hostile value.
  const realPath = () => op.path.replace(/\{(\w+)\}/g, (_m, p: string) => (p === 'id' ? sandboxId : '1'))
  let path = realPath()
  const kind = int(hasJsonBody(op) ? 7 : 4)
  if (kind === 0) {
    const k = pick([
      '__proto__.X=1',
      'constructor.prototype.X=1',
      'a.__proto__=1',
      '__proto__=1',
      'prototype.polluted=1',
      'metadata.__proto__=x',
      'metadata.constructor=x',
      `${fields[0] ?? 'f'}.prototype.X=1`,
      '__proto__.LD_PRELOAD=%2Ftmp%2Fx.so',
    ])
    query.push(k)
    what = `query ${k}`
  } else if (kind === 1) {
    if (params.length === 0) return hostileRequest(op, sandboxId)
    const v = pick(hostilePathValues)
    path = op.path.replace(/\{(\w+)\}/g, () => v)
    what = `path ${v.slice(0, 20)}`
  } else if (kind === 2) {
    // Wrong values in the query (GET/DELETE) or in query-able fields, several at once.
    const targets = fields.length ? fields : ['unknownField']
    const f = pick(targets)
    const schema = (op.input.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[f]
    const v = schema ? wrongValue({ safeParse: (x) => (typeof x === 'string' ? schema.safeParse(x) : { success: true }) }) : 'x'
    if (v === undefined) return hostileRequest(op, sandboxId)
    query.push(`${encodeURIComponent(f)}=${encodeURIComponent(String(v))}`, '__proto__.X=1')
    what = `query ${f}=<wrong> + proto`
  } else if (kind === 3) {
    const n = 300
    for (let i = 0; i < n; i++) query.push(`k${i}=v`)
    what = 'too many query params'
  } else {
    headers['content-type'] = 'application/json'
    const obj: Record<string, unknown> = {}
    for (const f of fields) if (rand() < 0.5) obj[f] = candidates[int(candidates.length)]!()
    const f = fields.length ? pick(fields) : 'x'
    if (kind === 4) {
      obj[f] = protoValue(int(6))
      what = `body ${f}: proto`
    } else if (kind === 5) {
      obj[f] = rand() < 0.5 ? `ok\ud800${'y'.repeat(int(3))}` : { ['\udc00k']: 'v' }
      what = `body ${f}: lone surrogate`
    } else {
      const t = int(5)
      if (t === 0) obj[f] = deepValue(100 + int(50))
      if (t === 1) body = pick(['[]', '1', '"s"', 'null', '{"a":', '\u0000', '[[[[[[[[[[', '{"__proto__":1}'])
      if (t === 2) body = `{"a":"${'x'.repeat(int(2) ? 1_100_000 : 33 * 1024 * 1024)}"}`
      if (t === 3) body = JSON.stringify(obj).replace(/^\{/, '{"__proto__":{"X":1},')
      if (t === 4) {
        const schema = (op.input.shape as Record<string, { safeParse(v: unknown): { success: boolean } } | undefined>)[f]
        const v = schema ? wrongValue(schema) : 'x'
        obj[f] = v
        obj.constructor = 'x'
      }
      what = `body ${f}: kind ${t}`
    }
    body ??= JSON.stringify(obj)
  }
  if (op.rawBody && body === undefined)
    body =
      rand() < 0.5
        ? new Uint8Array(Array.from({ length: 64 }, () => int(256)))
        : '<testsuites><testsuite __proto__="x" constructor="y"><testcase name="a" prototype="z"><__proto__/></testcase></testsuite></testsuites>'
  if (rand() < 0.3) headers['x-request-id'] = pick(['__proto__', 'req_forged', 'x'.repeat(10_000), 'a b\tc', ''])
  if (op.stream && rand() < 0.5) headers.accept = 'application/x-ndjson'
  if (op.markdown && rand() < 0.5) headers.accept = 'text/markdown'
  for (const [k, v] of Object.entries(op.query ?? {})) query.unshift(`${k}=${v}`)
  return { what, method: op.method, path, query, ...(body !== undefined ? { body } : {}), headers }
}

function protoSnapshot(): string[] {
  const out: string[] = []
  for (const [name, p] of [
    ['Object', Object.prototype],
    ['Array', Array.prototype],
    ['Function', Function.prototype],
  ] as const) {
    for (const key of Reflect.ownKeys(p)) {
      const d = Object.getOwnPropertyDescriptor(p, key)!
      out.push(`${name}.${String(key)}:${typeof d.value}:${String(d.writable)}:${d.get ? 'get' : ''}`)
    }
    out.push(`${name}.[[Prototype]]:${String(Object.getPrototypeOf(p) === null)}`)
  }
  return out
}

let tp: TestPlane
let runtime: FakeRuntime
let sandboxId: string
const principals: { label: string; token: string | null; scopes: string[] }[] = []

async function stateSnapshot(): Promise<string> {
  const db = tp.svc.store.db
  const tables = (await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(db)).rows.map((r) => r.name)
  const parts: string[] = []
  for (const t of tables) {
    if (t === 'audit' || t.startsWith('kysely_') || t.startsWith('sqlite_')) continue
    const rows = (await sql`select * from ${sql.table(t)}`.execute(db)).rows
    // A token's last-use time moves when it authenticates: that is not a change a request made.
    parts.push(`${t}:${JSON.stringify(rows.map((r) => ({ ...(r as object), last_used_at: undefined })))}`)
  }
  parts.push(`runtime:${runtime.sandboxes.size}:${runtime.execs.length}`)
  return parts.join('\n')
}

beforeAll(async () => {
  runtime = new FakeRuntime()
  tp = await testPlane(runtime)
  sandboxId = ((await (await tp.call('POST', '/v1/sandboxes', { body: {} })).json()) as { id: string }).id
  principals.push({ label: 'no token', token: null, scopes: [] }, { label: 'unknown token', token: 'tp_nope', scopes: [] }, { label: 'admin', token: tp.admin, scopes: ['admin'] })
  const { scopes } = await import('@tidepool/sdk')
  for (const scope of scopes.filter((s) => s !== 'admin')) {
    const r = await tp.call('POST', '/v1/tokens', { body: { project: 'default', scopes: [scope], name: `fuzz ${scope}` } })
    principals.push({ label: scope, token: ((await r.json()) as { token: string }).token, scopes: [scope] })
  }
})
afterAll(async () => {
  for (const k of ['X', 'polluted', 'LD_PRELOAD']) delete (Object.prototype as Record<string, unknown>)[k]
  await tp.dispose()
})

async function send(r: Req, token: string | null): Promise<{ status: number; code?: string; text: string }> {
  const headers: Record<string, string> = { ...r.headers }
  if (token) headers.authorization = `Bearer ${token}`
  const url = r.query.length ? `${r.path}?${r.query.join('&')}` : r.path
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within 15 s: ${url}`)), 15_000)))
  try {
    const res = await Promise.race([Promise.resolve(tp.app.request(url, { method: r.method, headers, ...(r.body !== undefined ? { body: r.body as never } : {}) })), hang])
    const text = await Promise.race([res.text(), hang])
    let code: string | undefined
    try {
      code = (JSON.parse(text) as { error?: { code?: string } }).error?.code
    } catch {
      code = undefined
    }
    return { status: res.status, ...(code ? { code } : {}), text: text.slice(0, 300) }
  } finally {
    clearTimeout(timer)
  }
}

describe('fuzz: hostile input to every operation', () => {
  it('every operation, every scope and none: a coded 4xx, prototypes and state unchanged, audit verifies', async () => {
    const protoBefore = protoSnapshot()
    const stateBefore = await stateSnapshot()
    const failures: string[] = []
    let sent = 0
    for (const name of names) {
      const op = opOf(name)
      // Each principal once, then the op's own scope and admin several times (they get past authorisation).
      const runs = [...principals, ...Array.from({ length: 24 }, (_, i) => principals.find((p) => p.scopes.includes(i % 2 ? op.scope : 'admin'))!)]
      for (const p of runs) {
        const req = hostileRequest(op, sandboxId)
        const res = await send(req, p.token).then(
          (x) => x,
          (err: Error) => ({ status: 0, text: err.message }) as { status: number; code?: string; text: string },
        )
        sent++
        const allowed = p.scopes.includes('admin') || p.scopes.includes(op.scope)
        const where = `${name} [${p.label}] ${op.method} ${req.path.slice(0, 60)}?${req.query.join('&').slice(0, 80)} (${req.what})`
        // A tunnel's query and body are the server inside's, not input: past authorisation and a valid id and
        // port, the fake's answer (no server listens there) is a 502, which is the right one.
        const upstream = Boolean(op.tunnel) && allowed && res.status === 502 && res.code === 'bad_gateway'
        if (upstream) continue
        // A tunnel's path with a segment past its bound is no tunnel (port-target.ts): no route, for anyone.
        const unrouted = Boolean(op.tunnel) && req.what.startsWith('path ') && res.status === 404 && res.code === 'not_found'
        if (unrouted) continue
        if (res.status < 400 || res.status > 499) failures.push(`${where}: status ${res.status} ${res.text}`)
        else if (!res.code || errorStatus[res.code as keyof typeof errorStatus] !== res.status) failures.push(`${where}: ${res.status} without a matching code: ${res.text}`)
        else if (p.token === null || p.label === 'unknown token') {
          if (res.code !== 'unauthenticated') failures.push(`${where}: expected unauthenticated, got ${res.code}`)
        } else if (!allowed && res.code !== 'policy_denied') failures.push(`${where}: expected policy_denied, got ${res.code}`)
        else if (allowed && (res.code === 'policy_denied' || res.code === 'unauthenticated')) failures.push(`${where}: refused a scoped caller: ${res.text}`)
      }
    }
    expect(failures.slice(0, 40), `${failures.length} of ${sent} requests failed`).toEqual([])
    expect(protoSnapshot()).toEqual(protoBefore)
    expect(({} as Record<string, unknown>).X).toBeUndefined()
    expect(await stateSnapshot()).toBe(stateBefore)
    const verify = (await (await tp.call('POST', '/v1/audit/verify')).json()) as { ok: boolean }
    expect(verify.ok).toBe(true)
    // The server still answers a plain request the ordinary way.
    expect((await tp.call('POST', '/v1/sandboxes', { body: {} })).status).toBe(201)
  }, 180_000)
})
