/** @module e2b/envd/filesystem — envd's filesystem.Filesystem over tidepool's file operations. */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect'
import { timestampFromMs } from '@bufbuild/protobuf/wkt'
import type { FileEntry } from '@tidepool/sdk'
import { call } from '../call.js'
import { FileType, Filesystem, type EntryInfo } from '../gen/filesystem_pb.js'
import { absolute, envdCallOf, toConnectError, userOf } from './context.js'

const types: Record<FileEntry['type'], FileType> = { file: FileType.FILE, dir: FileType.DIRECTORY, symlink: FileType.SYMLINK, other: FileType.UNSPECIFIED }

/** tidepool's FileEntry as envd's EntryInfo (owner and group are the sandbox's two users). */
export function entryInfo(e: FileEntry): Omit<EntryInfo, '$typeName'> {
  const mode = parseInt(e.mode, 8) & 0o7777
  return {
    name: e.name,
    type: types[e.type],
    path: e.path,
    size: BigInt(e.size),
    mode,
    permissions: permissions(e.type, mode),
    owner: '',
    group: '',
    modifiedTime: timestampFromMs(Date.parse(e.modifiedAt)),
    metadata: {},
  }
}

function permissions(type: FileEntry['type'], mode: number): string {
  const kind = type === 'dir' ? 'd' : type === 'symlink' ? 'l' : '-'
  let s = kind
  for (let shift = 6; shift >= 0; shift -= 3) {
    const bits = (mode >> shift) & 7
    s += (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (bits & 1 ? 'x' : '-')
  }
  return s
}

function target(ctx: HandlerContext, path: string) {
  const c = envdCallOf(ctx)
  const user = userOf(ctx.requestHeader.get('authorization'))
  return { c, path: absolute(path, user) }
}

async function stat(ctx: HandlerContext, path: string) {
  const t = target(ctx, path)
  const s = await call(t.c.svc, t.c.principal, 'statFile', { id: t.c.sandboxId, path: t.path })
  return { ...t, stat: s }
}

export const filesystemService: Partial<ServiceImpl<typeof Filesystem>> = {
  async stat(req, ctx) {
    try {
      const { stat: s, path } = await stat(ctx, req.path)
      if (!s.exists || !s.entry) throw new ConnectError(`path '${path}' does not exist`, Code.NotFound)
      return { entry: entryInfo(s.entry) }
    } catch (err) {
      throw toConnectError(err)
    }
  },
  async listDir(req, ctx) {
    try {
      const { c, path } = target(ctx, req.path)
      const { items } = await call(c.svc, c.principal, 'listFiles', { id: c.sandboxId, path, depth: Math.min(Math.max(req.depth, 1), 8) })
      return { entries: items.map(entryInfo) }
    } catch (err) {
      throw toConnectError(err)
    }
  },
  async makeDir(req, ctx) {
    try {
      const { c, path, stat: s } = await stat(ctx, req.path)
      // The SDK's makeDir answers false for a directory that was there already.
      if (s.exists) throw new ConnectError(`path '${path}' already exists`, Code.AlreadyExists)
      const made = await call(c.svc, c.principal, 'makeDir', { id: c.sandboxId, path })
      return made.entry ? { entry: entryInfo(made.entry) } : {}
    } catch (err) {
      throw toConnectError(err)
    }
  },
  async move(req, ctx) {
    try {
      const from = target(ctx, req.source)
      const to = target(ctx, req.destination)
      const moved = await call(from.c.svc, from.c.principal, 'renameFile', { id: from.c.sandboxId, from: from.path, to: to.path })
      return moved.entry ? { entry: entryInfo(moved.entry) } : {}
    } catch (err) {
      throw toConnectError(err)
    }
  },
  async remove(req, ctx) {
    try {
      const { c, path } = target(ctx, req.path)
      await call(c.svc, c.principal, 'deleteFile', { id: c.sandboxId, path })
      return {}
    } catch (err) {
      throw toConnectError(err)
    }
  },
}
