/**
 * Imports run one way (DESIGN.md §2 "Areas as siblings"): from a layer to the layers below it, never up,
 * and never from one area into another — areas reach each other only through interfaces main.ts hands
 * them. And no two modules import each other, even for types only. Tests are exempt: a test may reach any
 * layer to set up what it tests.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/** Top to bottom. A unit is a folder under src/ (or a file at its root). */
const layers: { units: string[]; why: string; siblings?: 'may-import-each-other' }[] = [
  { units: ['main.ts', 'wiring', 'cli', 'bench', 'testing'], why: 'entry points and the composition root', siblings: 'may-import-each-other' },
  { units: ['http', 'mcp', 'e2b'], why: 'shells over dispatch (HTTP API, MCP server, E2B-compatible endpoint)' },
  { units: ['dispatch'], why: "the front door: composes the areas' handler tables" },
  // network: the egress proxy, domain policy, stubs, brokered credentials.
  {
    units: ['sandboxes', 'templates', 'access', 'data', 'insights', 'actions', 'network', 'ports', 'policy', 'replay', 'environments', 'webhooks', 'gate'],
    why: 'areas: siblings that never import each other',
  },
  { units: ['kit'], why: 'what every area shares: cursor and pages, events, context, handler types, area deps, the seams between areas' },
  { units: ['config.ts'], why: "one config schema, assembled from each area's section" },
  { units: ['audit'], why: 'the audit log every change is written to' },
  { units: ['runtime', 'store', 'router'], why: 'drivers' },
  { units: ['storage'], why: 'the storage pool (btrfs, reflink, copy) the local runtime keeps its layers in' },
  { units: ['core'], why: 'errors, ids, clock, log, input rules' },
]

/** Imports the table allows against its grain, each with its reason. */
const allowed: { from: string; to: string; why: string }[] = [
  { from: 'config.ts', to: 'data/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'insights/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'templates/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'sandboxes/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'network/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'webhooks/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'policy/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
  { from: 'config.ts', to: 'gate/config.ts', why: "an area's config section is a leaf schema the one config schema is made of" },
]

export interface Edge {
  from: string
  to: string
}

const rankOf = new Map(layers.flatMap((l, rank) => l.units.map((u) => [u, rank] as const)))
const unitOf = (file: string) => file.split('/')[0]!

/** Every import that goes up a layer, sideways between two areas, or into a unit the table does not know. */
export function layerViolations(edges: Edge[]): string[] {
  const out: string[] = []
  for (const e of edges) {
    const a = unitOf(e.from)
    const b = unitOf(e.to)
    if (a === b || allowed.some((x) => x.from === e.from && x.to === e.to)) continue
    const ra = rankOf.get(a)
    const rb = rankOf.get(b)
    if (ra === undefined || rb === undefined) out.push(`${e.from} -> ${e.to}: ${ra === undefined ? a : b} is in no layer of the table`)
    else if (rb < ra) out.push(`${e.from} -> ${e.to}: ${a} (${layers[ra]!.why}) is below ${b} (${layers[rb]!.why})`)
    else if (rb === ra && layers[ra]!.siblings !== 'may-import-each-other') out.push(`${e.from} -> ${e.to}: ${a} and ${b} are siblings (${layers[ra]!.why})`)
  }
  return out
}

/** Import circles between modules, each once, as `a -> b -> a`. */
export function importCircles(edges: Edge[]): string[] {
  const next = new Map<string, string[]>()
  for (const e of edges) next.set(e.from, [...(next.get(e.from) ?? []), e.to])
  const circles = new Set<string>()
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const visit = (m: string) => {
    state.set(m, 'open')
    stack.push(m)
    for (const n of next.get(m) ?? []) {
      if (state.get(n) === 'open') {
        const loop = stack.slice(stack.indexOf(n))
        const start = loop.indexOf([...loop].sort()[0]!)
        circles.add([...loop.slice(start), ...loop.slice(0, start), loop[start]].join(' -> '))
      } else if (!state.has(n)) visit(n)
    }
    stack.pop()
    state.set(m, 'done')
  }
  for (const m of [...next.keys()].sort()) if (!state.has(m)) visit(m)
  return [...circles].sort()
}

const src = dirname(fileURLToPath(import.meta.url))
const isTest = (f: string) => /\.(test|suite|type-test)\.ts$/.test(f) || f.startsWith('testing/')
// One relative specifier per match: `from '…'`, `import '…'`, `import('…')`. No nested quantifiers: linear.
const specifier = /(?:\bfrom|\bimport\s*\(?)\s*'(\.\.?\/[^']*)'/g

function sourceEdges(): Edge[] {
  const files = (readdirSync(src, { recursive: true }) as string[]).map((f) => f.split('\\').join('/')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !isTest(f))
  return files.flatMap((from) =>
    [...readFileSync(join(src, from), 'utf8').matchAll(specifier)].map((m) => ({
      from,
      to: relative(src, normalize(join(src, dirname(from), m[1]!)))
        .split('\\')
        .join('/')
        .replace(/\.js$/, '.ts'),
    })),
  )
}

describe('imports run one way', () => {
  const edges = sourceEdges()

  it('finds the imports it checks (the pattern still matches how we write them)', () => {
    expect(edges).toContainEqual({ from: 'dispatch/handlers.ts', to: 'sandboxes/handlers.ts' })
    expect(edges).toContainEqual({ from: 'main.ts', to: 'runtime/create-runtime.ts' }) // a dynamic import
  })

  it('no module imports from a layer above it or from a sibling area', () => {
    expect(layerViolations(edges)).toEqual([])
  })

  it('no two modules import each other, even for types only', () => {
    expect(importCircles(edges)).toEqual([])
  })

  it('reports an import up a layer, across areas, and into a unit the table does not know', () => {
    expect(layerViolations([{ from: 'kit/cursor.ts', to: 'dispatch/dispatch.ts' }])).toHaveLength(1)
    expect(layerViolations([{ from: 'data/clones.ts', to: 'sandboxes/sandboxes.ts' }])).toEqual([
      'data/clones.ts -> sandboxes/sandboxes.ts: data and sandboxes are siblings (areas: siblings that never import each other)',
    ])
    expect(layerViolations([{ from: 'nowhere/x.ts', to: 'core/errors.ts' }])).toEqual(['nowhere/x.ts -> core/errors.ts: nowhere is in no layer of the table'])
    expect(
      layerViolations([
        { from: 'sandboxes/files.ts', to: 'kit/page.ts' },
        { from: 'cli/main.ts', to: 'main.ts' },
      ]),
    ).toEqual([])
  })

  it('reports a circle once, however long', () => {
    const edges = [
      { from: 'b.ts', to: 'c.ts' },
      { from: 'c.ts', to: 'a.ts' },
      { from: 'a.ts', to: 'b.ts' },
      { from: 'a.ts', to: 'd.ts' },
    ]
    expect(importCircles(edges)).toEqual(['a.ts -> b.ts -> c.ts -> a.ts'])
  })
})
