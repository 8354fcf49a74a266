/** @module runtime/local/template-root — builds the 'host' template's skeleton root once (idempotent, atomic). */
import { chmodSync, copyFileSync, existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { HostLayoutEntry } from './mounts.js'
import { systemTopLevel } from './mounts.js'

/** Inside a sandbox: root is uid 0 (host uid-base), the default user is 1000 (host uid-base + 1000). */
export const USER_UID = 1000

/** Files of the host's /etc that programs need and that hold no secret (copied when world-readable). */
const etcFiles = [
  'ld.so.cache',
  'ld.so.conf',
  'os-release',
  'debian_version',
  'lsb-release',
  'profile',
  'bash.bashrc',
  'environment',
  'localtime',
  'timezone',
  'protocols',
  'services',
  'networks',
  'shells',
  'inputrc',
  'host.conf',
  'gai.conf',
  'mime.types',
  'ssl/openssl.cnf',
  'ca-certificates.conf',
  'login.defs',
]
/** Directories copied recursively (world-readable entries only; symlinks as symlinks). */
const etcDirs = ['ld.so.conf.d', 'alternatives', 'profile.d', 'ssl/certs', 'python3', 'python3.11', 'python3.12', 'python3.13']

const generated: Record<string, string> = {
  passwd: 'root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
  group: 'root:x:0:\ntty:x:5:user\nuser:x:1000:\nnogroup:x:65534:\n',
  hosts: '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n',
  'resolv.conf': '',
  'nsswitch.conf': 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\nethers: files\nrpc: files\n',
}

/** How this host lays out /bin, /sbin, /lib…: symlinks into /usr (merged /usr) or directories of their own. */
export function readHostLayout(): HostLayoutEntry[] {
  const out: HostLayoutEntry[] = []
  for (const name of systemTopLevel) {
    try {
      const st = lstatSync(`/${name}`)
      if (st.isSymbolicLink()) out.push({ name, kind: 'symlink', target: readlinkSync(`/${name}`) })
      else if (st.isDirectory()) out.push({ name, kind: 'dir' })
    } catch {
      // absent on this host
    }
  }
  return out
}

/**
 * Returns `<dataDir>/templates/host/root`, building it first if needed: empty system dirs, merged-usr
 * symlinks mirroring the host, and a minimal /etc (generated passwd/group/hosts, copies of public
 * config; never shadow, sudoers, ssh keys or private TLS keys). Everything is owned by the sandbox's
 * root (uidBase) except /home/user and /workspace (uidBase + 1000). Built in a temp dir and renamed
 * into place, so a crash or a concurrent builder never leaves a half-built root behind.
 */
export function ensureHostTemplate(dataDir: string, uidBase: number, layout: HostLayoutEntry[]): string {
  const root = join(dataDir, 'templates', 'host', 'root')
  if (existsSync(root)) return root
  mkdirSync(dirname(root), { recursive: true, mode: 0o700 })
  const tmp = `${root}.tmp-${process.pid}-${Date.now()}`
  try {
    buildSkeleton(tmp, uidBase, layout)
    renameSync(tmp, root)
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true })
    const code = (err as NodeJS.ErrnoException).code
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(root)) return root // another builder won
    throw err
  }
  return root
}

function buildSkeleton(dir: string, uidBase: number, layout: HostLayoutEntry[]): void {
  const own = (p: string, uid = uidBase) => lchownSync(p, uid, uid)
  const mkdir = (rel: string, mode = 0o755, uid = uidBase) => {
    const p = join(dir, rel)
    mkdirSync(p, { recursive: true })
    chmodSync(p, mode)
    own(p, uid)
  }
  mkdir('')
  for (const d of ['proc', 'dev', 'sys', 'run', 'var', 'var/lib', 'var/cache', 'var/log', 'usr', 'etc', 'home', 'mnt', 'opt', 'srv']) mkdir(d)
  mkdir('tmp', 0o1777)
  mkdir('var/tmp', 0o1777)
  mkdir('root', 0o700)
  mkdir('home/user', 0o755, uidBase + USER_UID)
  mkdir('workspace', 0o755, uidBase + USER_UID)
  for (const e of layout) {
    const p = join(dir, e.name)
    if (e.kind === 'symlink') symlinkSync(e.target, p)
    else mkdirSync(p) // mount point of a read-only bind of the host's directory
    own(p)
  }
  for (const [name, text] of Object.entries(generated)) {
    writeFileSync(join(dir, 'etc', name), text, { mode: 0o644 })
    own(join(dir, 'etc', name))
  }
  for (const f of etcFiles) copyPublic(join('/etc', f), join(dir, 'etc', f), uidBase)
  for (const d of etcDirs) copyPublic(join('/etc', d), join(dir, 'etc', d), uidBase)
}

/** Copies a file, symlink or tree if it is world-readable (so nothing private can slip in), owned by uid. */
function copyPublic(src: string, dst: string, uid: number): void {
  let st
  try {
    st = lstatSync(src)
  } catch {
    return
  }
  if (!existsSync(dirname(dst))) {
    mkdirSync(dirname(dst), { recursive: true, mode: 0o755 })
    lchownSync(dirname(dst), uid, uid)
  }
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dst)
  } else if (st.isDirectory()) {
    if ((st.mode & 0o005) !== 0o005) return
    mkdirSync(dst, { mode: st.mode & 0o7777 })
    for (const name of readdirSync(src)) copyPublic(join(src, name), join(dst, name), uid)
  } else if (st.isFile()) {
    if ((st.mode & 0o004) === 0) return
    copyFileSync(src, dst)
    chmodSync(dst, st.mode & 0o777)
  } else {
    return
  }
  lchownSync(dst, uid, uid)
}
