/** @module data/service — PostgreSQL data sources, mirrors and thin clones. */
import type { AreaDeps } from '../service/area-deps.js'

// biome-ignore lint: filled in by the data area
export interface DataService {
  /** Stop managed clusters on shutdown (they are adopted again on the next start). */
  close(): Promise<void>
}

export function createDataService(_deps: AreaDeps): DataService {
  return { close: async () => {} }
}
