/**
 * @module cli/commands/template — `tidepool template build -f tidepool.template.yaml`, `template list|get|delete`.
 *
 * The YAML file is the API's build body (docs/templates.md), plus one convenience: a copy step may say
 * `from: <file>` (relative to the YAML file) instead of `content`, and the CLI sends the file's bytes.
 */
import { readFileSync, statSync } from 'node:fs'
import { dirname, isAbsolute, resolve } from 'node:path'
import { maxCopyBytes, Template, type BuildTemplateInput, type TemplateBuildEvent, type TemplateInfo } from '@tidepool/sdk'
import { parse } from 'yaml'
import { clientSettings, type Config } from '../../config.js'
import { AppError } from '../../core/errors.js'
import type { CliCommand, CliContext } from '../command.js'
import { table } from '../io.js'

const json = { json: { type: 'boolean' } } as const
/** Largest template file read (the API takes at most 8 MiB per build). */
const maxFileBytes = 8 * 1024 * 1024

function one(positionals: string[], what: string): string {
  const v = positionals[0]
  if (!v) throw new AppError('invalid_request', `missing ${what}`)
  return v
}

const mb = (b: number) => `${(b / 1_048_576).toFixed(1)} MB`

/** The template file as a build body: YAML parsed (aliases bounded), copy `from:` files read in. */
export function readTemplateFile(file: string, cwd: string): BuildTemplateInput {
  const path = isAbsolute(file) ? file : resolve(cwd, file)
  const size = statSync(path).size
  if (size > maxFileBytes) throw new AppError('invalid_request', `${file} is ${size} bytes; a template file is at most ${maxFileBytes}`)
  const doc = parse(readFileSync(path, 'utf8'), { maxAliasCount: 100, uniqueKeys: true }) as unknown
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new AppError('invalid_request', `${file}: expected a mapping with name, base, steps… (see docs/templates.md)`)
  const spec = doc as { steps?: unknown }
  if (Array.isArray(spec.steps)) {
    spec.steps = spec.steps.map((step: unknown, i: number) => {
      const copy = (step as { copy?: { from?: unknown } } | null)?.copy
      if (!copy || typeof copy.from !== 'string') return step
      const { from, ...rest } = copy as { from: string }
      const src = isAbsolute(from) ? from : resolve(dirname(path), from)
      const bytes = statSync(src).size
      if (bytes > maxCopyBytes) throw new AppError('invalid_request', `steps.${i}.copy.from: ${from} is ${bytes} bytes; a copy step carries at most ${maxCopyBytes}`)
      return { copy: { ...rest, content: readFileSync(src).toString('base64'), encoding: 'base64' } }
    })
  }
  return doc as BuildTemplateInput
}

function progressText(e: TemplateBuildEvent): string {
  const where = e.step < 0 ? 'base' : `step ${e.step + 1}/${e.of}`
  if (e.phase === 'output') return `  | ${e.line ?? ''}`
  return `${where} ${e.phase}${e.cached ? ' (cached)' : ''}${e.line ? `: ${e.line}` : ''}`
}

function detailText(t: TemplateInfo): string {
  const lines = [
    `template ${t.name}${t.builtIn ? ' (built in)' : ''}: ${t.digest}`,
    `base:     ${t.base.kind}${t.base.source ? ` ${t.base.source}` : ''} ${t.base.digest}`,
    `rootfs:   ${t.rootfs}`,
    ...(t.usedBy !== undefined ? [`used by:  ${t.usedBy} live sandbox(es)`] : []),
    ...(t.lastBuild ? [`build:    ${t.lastBuild.id} ${t.lastBuild.state}, ${t.lastBuild.cachedSteps} cached, ${t.lastBuild.builtSteps} built`] : []),
  ]
  if (t.layers.length > 0)
    lines.push(
      table(
        t.layers.map((l) => ({ step: l.step + 1, digest: l.digest.slice(0, 19), size: mb(l.bytes), exclusive: mb(l.exclusiveBytes) })),
        ['step', 'digest', 'size', 'exclusive'],
      ),
    )
  return lines.join('\n')
}

export function templateCommands(config: () => Config): CliCommand[] {
  /** Template.build streams with the token itself (progress needs the NDJSON response). */
  const connection = () => {
    const s = clientSettings(process.env, config())
    if (!s.token) throw new AppError('unauthenticated', `no token: set TIDEPOOL_TOKEN, or start the server once so it writes ${s.tokenFile}`)
    return { baseUrl: s.baseUrl, token: s.token }
  }
  return [
    {
      words: ['template', 'build'],
      summary: 'Build a template from a YAML file (progress on stderr; unchanged steps are cache hits)',
      usage: '-f tidepool.template.yaml [--no-cache] [--json]',
      options: { ...json, file: { type: 'string', short: 'f' }, 'no-cache': { type: 'boolean' } },
      async run({ values: v, io, cwd }: CliContext) {
        const spec = readTemplateFile(String(v.file ?? 'tidepool.template.yaml'), cwd)
        if (v['no-cache']) spec.noCache = true
        const t = await Template.build(spec, { ...connection(), onProgress: (e) => io.info(progressText(e)) })
        io.print(t, () => detailText(t))
        return 0
      },
    },
    {
      words: ['pool', 'list'],
      summary: "This project's warm pools (config warmPools): ready, hits, misses, refill time",
      usage: '[--json]',
      options: json,
      async run({ api, io }) {
        const pools = await (await api()).listWarmPools()
        io.print(pools, () =>
          table(
            pools.items.map((p) => ({
              template: p.template,
              replicas: p.replicas,
              ready: p.ready,
              hits: p.hits,
              misses: p.misses,
              refillP50Ms: p.refillP50Ms?.toFixed(1) ?? '-',
              lastError: p.lastError ?? '',
            })),
            ['template', 'replicas', 'ready', 'hits', 'misses', 'refillP50Ms', 'lastError'],
          ),
        )
        return 0
      },
    },
    {
      words: ['template', 'list'],
      summary: 'Templates of this project',
      usage: '[--json]',
      options: json,
      async run({ api, io }) {
        const page = await (await api()).listTemplates({ limit: 1000 })
        io.print(page, () =>
          table(
            page.items.map((t) => ({ name: t.name, base: t.base.kind, layers: t.layers.length, digest: t.digest.slice(0, 19), updated: t.updatedAt })),
            ['name', 'base', 'layers', 'digest', 'updated'],
          ),
        )
        return 0
      },
    },
    {
      words: ['template', 'get'],
      summary: 'Inspect a template: layers, digests, sizes, last build, live sandboxes using it',
      usage: '<name> [--json]',
      options: json,
      async run({ api, io, positionals }) {
        const t = await (await api()).getTemplate({ name: one(positionals, 'template name') })
        io.print(t, () => [detailText(t), ...(t.buildLog?.length ? ['log tail:', ...t.buildLog.map((l) => `  ${l}`)] : [])].join('\n'))
        return 0
      },
    },
    {
      words: ['template', 'delete'],
      summary: 'Delete a template and the layers no other template uses (refused while sandboxes use it)',
      usage: '<name> [--json]',
      options: json,
      async run({ api, io, positionals }) {
        const name = one(positionals, 'template name')
        await (await api()).deleteTemplate({ name })
        io.print({ deleted: name }, () => `removed ${name}`)
        return 0
      },
    },
  ]
}
