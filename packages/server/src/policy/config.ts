/** @module policy/config — the policy section of the config. */
import { z } from 'zod'

export const PolicyConfig = z
  .object({
    files: z
      .array(z.string().min(1).max(4096))
      .max(64)
      .default([])
      .describe('Cedar policy files (relative paths from the working directory); none: the built-in default policy (the scopes). Reloaded on SIGHUP and POST /v1/policy/reload.'),
  })
  .strict()
