/** @module contract/auth — principals, scopes and tokens. */
import { z } from 'zod'
import { limits, Name, PageInput, Timestamp, page } from './common.js'

/** Scopes a token can carry. `admin` implies every other scope, in every project. */
export const scopes = [
  'admin',
  'sandboxes:read',
  'sandboxes:write',
  'audit:read',
  'runs:write',
  'insights:read',
  'insights:write',
  'data:read',
  'data:write',
  'gate:read',
  'gate:propose',
  'gate:approve',
  'gate:promote',
] as const
export const Scope = z.enum(scopes)
export type Scope = z.infer<typeof Scope>

export const ProjectName = z
  .string()
  .max(63)
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'project names are 1–63 lowercase letters, digits, - and _')

export const Principal = z
  .object({
    tokenId: z.string(),
    name: z.string(),
    project: z.string(),
    scopes: z.array(Scope),
  })
  .meta({ id: 'Principal' })
export type Principal = z.infer<typeof Principal>

export const CreateTokenInput = z
  .object({
    project: ProjectName.describe('Project (tenant) the token is bound to.'),
    scopes: z.array(Scope).min(1).max(scopes.length).describe('What the token may do.'),
    name: Name.default('token').describe('Label, e.g. the agent or CI job using it.'),
    ttlSeconds: z.number().int().min(60).max(31_536_000).optional().describe('Expiry; none by default.'),
  })
  .strict()

export const TokenInfo = z
  .object({
    id: z.string(),
    name: z.string(),
    project: z.string(),
    scopes: z.array(Scope),
    createdAt: Timestamp,
    expiresAt: Timestamp.optional(),
  })
  .meta({ id: 'TokenInfo' })
export const CreatedToken = TokenInfo.extend({ token: z.string().describe('The secret; shown only once.') })
export const TokenPage = page(TokenInfo)
export const ListTokensInput = z.object({ ...PageInput }).strict()
export const TokenRef = z.object({ id: z.string().min(1).max(limits.id) }).strict()
