/**
 * @module contract/templates — templates: a base (the host's system directories, a rootfs folder or an
 * OCI image) plus ordered build steps, built once into a content-addressed layer stack.
 */
import { z } from 'zod'
import { Envs, limits, PageInput, page, Timestamp } from './common.js'
import type { Operation } from './operation.js'
import { NetworkPolicy, Resources } from './sandbox.js'

/**
 * Template names: lower-case letters, digits and . _ - (start with a letter or digit), at most 64. They
 * are record keys and file-name parts, so nothing like `__proto__` or `..` can be one.
 */
export const TemplateName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'template names are 1–64 lower-case letters, digits and . _ - (start with a letter or digit)')
  .refine((n) => n !== 'constructor' && n !== 'prototype', 'constructor and prototype are not template names')
  .describe('Template name (per project). `default` is the built-in host template.')

/** An absolute path inside a sandbox with no `.`/`..` segment and no NUL (checked without a regex on the whole path). */
export const AbsPath = z
  .string()
  .min(1)
  .max(limits.path)
  .refine((p) => p.startsWith('/'), 'must be an absolute path (start with /)')
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => p.split('/').every((seg) => seg !== '..' && seg !== '.'), 'must not contain . or .. segments')

/** A host path the server reads (rootfs folders, OCI layouts and archives): the same rules. */
const HostPath = AbsPath.describe('Absolute path on the server host (needs the admin scope).')

const Argv = z.array(z.string().max(32_768)).min(1).max(256)
/** A command: an argv array, or one string run by `/bin/sh -c`. */
export const TemplateCommand = z.union([Argv, z.string().min(1).max(65_536)]).describe('argv, or one string run with /bin/sh -c.')

const User = z.enum(['root', 'user']).describe("'root' (root inside the sandbox's user namespace only) or 'user' (uid 1000).")

export const ImageSource = z
  .discriminatedUnion('kind', [
    z.object({ kind: z.literal('layout'), path: HostPath.describe('OCI image layout directory on the server host (admin only).'), ref: z.string().min(1).max(limits.label).optional() }).strict(),
    z.object({ kind: z.literal('archive'), path: HostPath.describe('docker save / OCI tarball on the server host (admin only).'), ref: z.string().min(1).max(limits.label).optional() }).strict(),
    z
      .object({
        kind: z.literal('registry'),
        image: z.string().min(1).max(512).describe('e.g. 127.0.0.1:5000/debian:bookworm or …@sha256:<digest>.'),
        auth: z
          .union([z.object({ username: z.string().min(1).max(limits.label), password: z.string().max(4096) }).strict(), z.object({ token: z.string().min(1).max(8192) }).strict()])
          .optional()
          .describe('Registry credentials: used for the pull only, never stored or logged.'),
        insecureHttp: z.boolean().optional().describe('Plain HTTP (a registry on loopback).'),
      })
      .strict(),
  ])
  .meta({ id: 'ImageSource' })

export const TemplateBase = z
  .union([
    z.object({ host: z.literal(true).describe("The host's system directories, read-only (today's default).") }).strict(),
    z.object({ rootfs: HostPath.describe('A root filesystem folder on the server host, read-only (admin only).') }).strict(),
    z.object({ image: ImageSource }).strict(),
  ])
  .meta({ id: 'TemplateBase' })
export type TemplateBase = z.infer<typeof TemplateBase>

/** Largest file a copy step carries (the whole build request is at most 8 MiB). */
export const maxCopyBytes = 1024 * 1024

export const TemplateStep = z
  .union([
    z
      .object({
        copy: z
          .object({
            path: AbsPath.describe('Where the file goes inside the template (parents are created).'),
            content: z
              .string()
              .max(Math.ceil((maxCopyBytes * 4) / 3) + 4)
              .describe('The file: text, or base64 with encoding: base64 (at most 1 MiB of bytes).'),
            encoding: z.enum(['utf8', 'base64']).default('utf8'),
            mode: z.number().int().min(0).max(0o7777).optional().describe('File mode, e.g. 493 (0755). Default 0644.'),
          })
          .strict(),
      })
      .strict(),
    z
      .object({
        run: TemplateCommand,
        user: User.optional().describe('Default: the last user step, else root.'),
        timeoutMs: z.number().int().min(1000).max(3_600_000).default(600_000).describe('The step fails when the command runs longer.'),
      })
      .strict(),
    z.object({ env: Envs.describe('Environment variables of later steps and of sandboxes (metadata only: no layer).') }).strict(),
    z.object({ workdir: AbsPath.describe('Working directory of later steps and of sandboxes (no layer).') }).strict(),
    z.object({ user: User.describe('User of later run steps without their own and of sandbox commands (no layer).') }).strict(),
  ])
  .describe('One build step: exactly one of copy, run, env, workdir, user.')
  .meta({ id: 'TemplateStep' })
export type TemplateStep = z.input<typeof TemplateStep>

export const ReadyCheck = z
  .object({
    cmd: TemplateCommand.describe('Exits 0 once the template’s start command is ready.'),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    intervalMs: z.number().int().min(10).max(60_000).default(200),
  })
  .strict()

export const BuildTemplateInput = z
  .object({
    name: TemplateName,
    description: z.string().max(1024).default(''),
    base: TemplateBase.default({ host: true }),
    steps: z.array(TemplateStep).max(128).default([]),
    env: Envs.default({}).describe('Default environment of sandboxes (steps add to it).'),
    workdir: AbsPath.optional().describe('Default working directory of sandbox commands.'),
    user: User.optional().describe('Default user of sandbox commands.'),
    start: TemplateCommand.optional().describe('Started in the background in every sandbox of this template.'),
    ready: ReadyCheck.optional().describe('A sandbox create waits until this exits 0 (needs start).'),
    resources: Resources.partial().optional().describe('Defaults a create’s own resources override.'),
    network: NetworkPolicy.optional().describe(
      'The template level of egress policy: build run steps get egress through the proxy with it (without it they run offline), and every sandbox of the template has it combined with the project and sandbox levels (most restrictive wins).',
    ),
    noCache: z.boolean().default(false).describe('Rebuild every step (e.g. a rootfs base changed deep inside).'),
  })
  .strict()
  .refine((t) => t.ready === undefined || t.start !== undefined, { message: 'ready needs start (it checks the start command)', path: ['ready'] })
  .meta({ id: 'BuildTemplateInput' })
export type BuildTemplateInput = z.input<typeof BuildTemplateInput>

export const TemplateLayer = z
  .object({
    step: z.number().int().describe('Index of the step that made it (0-based); -1 for the prepare layer of a rootfs or image base (the sandbox user, /home/user, /workspace).'),
    key: z.string().describe('Cache key: sha256 of the parent key and the step.'),
    digest: z.string().describe('sha256:<key>, as sandboxes record it.'),
    bytes: z.number().int().describe('Bytes the layer references.'),
    exclusiveBytes: z.number().int().describe('Bytes only this layer holds.'),
  })
  .meta({ id: 'TemplateLayer' })

export const TemplateBuildInfo = z
  .object({
    id: z.string(),
    state: z.enum(['building', 'ready', 'failed']),
    cachedSteps: z.number().int(),
    builtSteps: z.number().int(),
    startedAt: Timestamp,
    finishedAt: Timestamp.optional(),
    error: z.string().optional(),
  })
  .meta({ id: 'TemplateBuildInfo' })

export const Template = z
  .object({
    name: z.string(),
    description: z.string(),
    rootfs: z.string().describe("'host' (the host's system directories, read-only), a rootfs folder, or the unpacked image."),
    builtIn: z.boolean().describe('The built-in default template (cannot be rebuilt or deleted).'),
    digest: z.string().describe('sha256 of the base digest and every layer key: the exact stack sandboxes start from.'),
    base: z.object({ kind: z.enum(['host', 'rootfs', 'image']), digest: z.string(), source: z.string().optional().describe('Path or image reference (no credentials).') }),
    layers: z.array(TemplateLayer),
    env: z.record(z.string(), z.string()),
    workdir: z.string().optional(),
    user: User.optional(),
    start: z.array(z.string()).optional(),
    ready: z.object({ cmd: z.array(z.string()), timeoutMs: z.number().int(), intervalMs: z.number().int() }).optional(),
    resources: Resources.partial().optional(),
    network: z
      .object({ allowedDomains: z.array(z.string()), deniedDomains: z.array(z.string()) })
      .optional()
      .describe('The template level of egress policy (build run steps and every sandbox of the template).'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    lastBuild: TemplateBuildInfo.optional(),
    usedBy: z.number().int().optional().describe('Live sandboxes started from it (inspect only).'),
    buildLog: z.array(z.string()).optional().describe('Tail of the last build’s log (inspect only).'),
  })
  .meta({ id: 'Template' })
export type Template = z.infer<typeof Template>

/** One progress line of a streamed build (Accept: application/x-ndjson); the last line is `{ template }`. */
export const TemplateBuildEvent = z
  .object({
    step: z.number().int().describe('0-based step index; -1 for the base.'),
    of: z.number().int().describe('Number of steps.'),
    cached: z.boolean(),
    phase: z.enum(['resolve', 'fetch', 'verify', 'unpack', 'cache', 'start', 'apply', 'output', 'snapshot', 'metadata', 'done', 'failed']),
    line: z.string().optional(),
  })
  .meta({ id: 'TemplateBuildEvent' })
export type TemplateBuildEvent = z.infer<typeof TemplateBuildEvent>

export const TemplateRef = z.object({ name: TemplateName }).strict()
export const ListTemplatesInput = z.object({ ...PageInput }).strict()
export const TemplatePage = page(Template).meta({ id: 'TemplatePage' })
/** Kept for SDK users of the old list shape: a page is a superset of it. */
export const TemplateList = TemplatePage

export const BuildLogRef = z.object({ name: TemplateName, id: z.string().min(1).max(limits.id) }).strict()
export const BuildLog = z.object({ id: z.string(), state: z.enum(['building', 'ready', 'failed']), lines: z.array(z.string()) }).meta({ id: 'TemplateBuildLog' })

export const templatesOps = {
  buildTemplate: {
    method: 'POST',
    path: '/v1/templates',
    summary: 'Build a template (cache hits are instant; NDJSON progress with Accept: application/x-ndjson)',
    scope: 'sandboxes:write',
    input: BuildTemplateInput,
    output: Template,
    status: 201,
    stream: true,
    maxBodyBytes: 8 * 1024 * 1024,
    tags: ['templates'],
  },
  listTemplates: {
    method: 'GET',
    path: '/v1/templates',
    summary: 'Templates sandboxes can start from (paginated)',
    scope: 'sandboxes:read',
    input: ListTemplatesInput,
    output: TemplatePage,
    tags: ['templates'],
  },
  getTemplate: {
    method: 'GET',
    path: '/v1/templates/{name}',
    summary: 'Inspect a template: layers, digests, sizes, last build, use',
    scope: 'sandboxes:read',
    input: TemplateRef,
    output: Template,
    tags: ['templates'],
  },
  deleteTemplate: {
    method: 'DELETE',
    path: '/v1/templates/{name}',
    summary: 'Delete a template and the layers no other template uses (idempotent; refused while sandboxes use it)',
    scope: 'sandboxes:write',
    input: TemplateRef,
    output: 'empty',
    status: 204,
    tags: ['templates'],
  },
  getTemplateBuildLog: {
    method: 'GET',
    path: '/v1/templates/{name}/builds/{id}/logs',
    summary: 'The log of one build (bounded)',
    scope: 'sandboxes:read',
    input: BuildLogRef,
    output: BuildLog,
    tags: ['templates'],
  },
} as const satisfies Record<string, Operation>
