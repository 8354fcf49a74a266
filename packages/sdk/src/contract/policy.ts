/** @module contract/policy — the policy set in force (Cedar) and its reload. */
import { z } from 'zod'
import { Timestamp } from './common.js'
import type { Operation } from './operation.js'

export const PolicyStatus = z
  .object({
    files: z.array(z.string()).describe('The policy files in force (or the built-in default policy).'),
    policies: z.array(z.string()).describe('The ids of the policies in force (their @id annotations).'),
    version: z.number().int().describe('How many policy sets this server has loaded (1 at start, +1 per good reload).'),
    loadedAt: Timestamp.describe('When the set in force was loaded.'),
  })
  .meta({ id: 'PolicyStatus' })

export const policyOps = {
  getPolicy: { method: 'GET', path: '/v1/policy', summary: 'The policy set in force (admin)', scope: 'admin', input: z.object({}).strict(), output: PolicyStatus, tags: ['policy'] },
  reloadPolicy: {
    method: 'POST',
    path: '/v1/policy/reload',
    summary: 'Read the policy files again (admin); an invalid set is refused and the old one stays in force',
    scope: 'admin',
    input: z.object({}).strict(),
    output: PolicyStatus,
    tags: ['policy'],
  },
} as const satisfies Record<string, Operation>
