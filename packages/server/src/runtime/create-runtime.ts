/** @module runtime/create-runtime — picks the Runtime implementation named in the config. */
import { GvisorRuntime } from './gvisor/gvisor-runtime.js'
import { IsolatingRuntime } from './isolating-runtime.js'
import { LocalRuntime } from './local/local-runtime.js'
import type { DiskLimits, NetworkConfig } from './local/local-runtime.js'
import type { RuntimeLogger } from './local/runtime-logger.js'
import { RuntimeError } from './local/runtime-error.js'
import type { Runtime } from './runtime.js'

export interface RuntimeConfig {
  kind: 'local' | (string & {})
  /** Runtime state directory, e.g. $TIDEPOOL_HOME/runtime. */
  dataDir: string
  /** Parent cgroup of every sandbox (default 'tidepool'). */
  cgroupName?: string
  /** Disk limits of sandbox writable layers (runtime.disk, defaults.diskMb). */
  disk?: DiskLimits
  /** Per-sandbox network (runtime.network). */
  network?: NetworkConfig
  logger?: RuntimeLogger
  /** The gvisor isolation level (runtime.gvisor); `required`: its preflight checks fail doctor (runtime.defaultIsolation is gvisor). */
  gvisor?: { runscPath?: string | undefined; platform?: 'systrap' | 'ptrace'; required?: boolean }
}

/** Builds the runtime for `cfg.kind`; other back-ends are loaded with `await import()` only when chosen. */
export async function createRuntime(cfg: RuntimeConfig): Promise<Runtime> {
  switch (cfg.kind) {
    case 'local':
      return new IsolatingRuntime(
        new LocalRuntime({
          dataDir: cfg.dataDir,
          ...(cfg.cgroupName !== undefined ? { cgroupName: cfg.cgroupName } : {}),
          ...(cfg.logger !== undefined ? { logger: cfg.logger } : {}),
          ...(cfg.disk !== undefined ? { disk: cfg.disk } : {}),
          ...(cfg.network !== undefined ? { network: cfg.network } : {}),
        }),
        new GvisorRuntime({
          dataDir: cfg.dataDir,
          ...(cfg.cgroupName !== undefined ? { cgroupName: cfg.cgroupName } : {}),
          ...(cfg.logger !== undefined ? { logger: cfg.logger } : {}),
          ...(cfg.gvisor?.runscPath !== undefined ? { runscPath: cfg.gvisor.runscPath } : {}),
          ...(cfg.gvisor?.platform !== undefined ? { platform: cfg.gvisor.platform } : {}),
          ...(cfg.gvisor?.required !== undefined ? { required: cfg.gvisor.required } : {}),
        }),
      )
    default:
      throw new RuntimeError('runtime_unavailable', `runtime kind ${JSON.stringify(cfg.kind)} is not available in this build; set runtime.kind to 'local'`)
  }
}
