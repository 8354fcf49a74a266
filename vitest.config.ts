import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const alias = { '@tidepool/sdk': fileURLToPath(new URL('./packages/sdk/src/index.ts', import.meta.url)) }

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: 'unit', include: ['packages/*/src/**/*.test.ts'], testTimeout: 20_000 },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['packages/server/test/integration/**/*.test.ts'],
          // Real namespaces, cgroups, servers and PostgreSQL on a 2-core box: one file at a time.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
