/** @module contract/data — data sources, mirrors and thin PostgreSQL clones. */
import type { Operation } from './operation.js'

export const dataOps = {} as const satisfies Record<string, Operation>
