/** @module templates/config — the templates area's config section (config key `templates`). */
import { z } from 'zod'

export const TemplatesConfig = z
  .object({
    registries: z
      .array(z.string().min(1).max(255))
      .max(64)
      .default(['registry-1.docker.io', 'ghcr.io', 'quay.io', 'public.ecr.aws', 'registry.k8s.io', 'mcr.microsoft.com'])
      .describe(
        'Registry hosts (host or host:port, as in the image reference) a project token may pull a template base from. Any other registry — a loopback or private one above all, which a pull would let a token probe from the server — needs an admin token.',
      ),
  })
  .strict()
export type TemplatesConfig = z.infer<typeof TemplatesConfig>
