/** @module runtime/local/layer-driver — picks the layer driver runtime.disk.driver names (its interface: layer-driver-types.ts). */
import { BtrfsLayers } from './btrfs-layers.js'
import { DirLayers } from './dir-layers.js'
import type { LayerDriver, LayerDriverOptions } from './layer-driver-types.js'

export type { LayerDriver, LayerDriverChoice, LayerDriverKind, LayerDriverOptions, LayerUsage } from './layer-driver-types.js'

/**
 * The driver runtime.disk.driver names. `auto`: btrfs when the kernel and btrfs-progs are there, else
 * reflink (or copy when no reflink filesystem can be had), with a warning saying what is lost.
 */
export function openLayerDriver(o: LayerDriverOptions): LayerDriver {
  const btrfs = () => new BtrfsLayers({ dataDir: o.dataDir, instance: o.instance, sizeMb: o.sizeMb, helperPath: o.helperPath })
  const dir = (kind: 'auto' | 'reflink' | 'copy') => new DirLayers({ dataDir: o.dataDir, instance: o.instance, kind, sizeMb: o.sizeMb, log: o.log })
  if (o.choice === 'btrfs') return btrfs()
  if (o.choice !== 'auto') return dir(o.choice)
  const b = btrfs()
  const check = b.preflight()
  if (check.ok) return b
  o.log.warn(
    { reason: check.detail, fix: check.fix },
    'runtime.disk.driver auto: no btrfs pool here; falling back to reflink/copy layers (snapshots O(files) or O(bytes), resources.diskMb not enforced)',
  )
  return dir('auto')
}
