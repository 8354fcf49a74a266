/**
 * @module kit/template-seam — what the sandboxes area asks of the templates area when it starts a
 * sandbox: the seam between the two (sandboxes never read template tables, templates never read
 * sandbox tables; the in-use count comes back through `TemplateUsage`).
 */
import type { ResourceLimits, TemplateSpec } from '../runtime/runtime.js'

/** A template as a sandbox starts from it, at one exact build. */
export interface ResolvedTemplate {
  /** What the runtime mounts below the sandbox's writable layer (the base rootfs). */
  spec: TemplateSpec
  /**
   * The runtime snapshot the sandbox's writable layer starts as: the template's last built layer, which
   * holds every step's changes (each build step starts from the one before). Absent for a template with
   * no file-changing steps. Why not stack the steps as overlay lowers: the steps' snapshots and the
   * sandbox's own layer are subvolumes of one btrfs filesystem, and overlayfs takes layers on one
   * filesystem to share one inode space, which btrfs subvolumes do not (each numbers from 256), so two
   * different files could show one st_ino and tools such as cat, cp and tar take one for the other.
   */
  fromSnapshot?: string
  /** Recorded on the sandbox: the template's name and the digest of the exact layer stack it started from. */
  ref: { name: string; digest: string; layers: string[] }
  /** Environment every command gets (a sandbox's own envs win). */
  env: Record<string, string>
  /** Default working directory of commands. */
  workdir?: string
  /** Default user of commands ('root' or 'user'). */
  user?: 'root' | 'user'
  /** Started in the background once the sandbox is up; the create waits for `ready` (when set) to exit 0. */
  start?: { cmd: string[]; ready?: { cmd: string[]; timeoutMs: number; intervalMs: number } }
  /** Defaults a create's own resources override. */
  resources?: Partial<ResourceLimits>
  /** The template level of egress policy, combined with the project's and the sandbox's (most restrictive wins). */
  network?: { allowedDomains: string[]; deniedDomains: string[] }
}

export interface TemplateResolver {
  /** `invalid_request` (with a details path 'template') when the project has no such template, or it is not built. */
  resolve(project: string, name: string): Promise<ResolvedTemplate>
}

/** Asked by the templates area before a delete: how many live sandboxes started from this template. */
export interface TemplateUsage {
  liveSandboxesUsing(project: string, templateName: string): Promise<number>
}
