/**
 * @module e2b/envd/watch — envd's directory watching (WatchDir stream, and the polling watcher the sync
 * Python SDK uses) as a poller over listFiles: each poll lists the tree and diffs it with the last one,
 * so events are create, write (size or mtime changed) and remove, at the poll's granularity.
 */
import { randomUUID } from 'node:crypto'
import { create } from '@bufbuild/protobuf'
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect'
import type { FileEntry } from '@tidepool/sdk'
import { call } from '../call.js'
import { EventType, FilesystemEventSchema, WatchDirResponse_KeepAliveSchema, WatchDirResponse_StartEventSchema, type Filesystem, type FilesystemEvent } from '../gen/filesystem_pb.js'
import { absolute, envdCallOf, toConnectError, userOf, type EnvdCall } from './context.js'
import { entryInfo } from './filesystem.js'

const POLL_MS = 200
const MAX_WATCHERS = 256
const WATCHER_IDLE_MS = 10 * 60_000

type Tree = Map<string, FileEntry>

async function list(c: EnvdCall, path: string, recursive: boolean): Promise<Tree> {
  const stat = await call(c.svc, c.principal, 'statFile', { id: c.sandboxId, path })
  if (!stat.exists || stat.entry?.type !== 'dir') throw new ConnectError(`path '${path}' is not a directory`, Code.NotFound)
  const { items } = await call(c.svc, c.principal, 'listFiles', { id: c.sandboxId, path, depth: recursive ? 8 : 1 })
  return new Map(items.map((e) => [e.path, e]))
}

/** The events that turn `before` into `after`; names are relative to the watched directory. */
export function diff(root: string, before: Tree, after: Tree, withEntry: boolean): FilesystemEvent[] {
  const rel = (p: string) => (p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p)
  const events: FilesystemEvent[] = []
  const event = (e: FileEntry, type: EventType, entry: boolean) => events.push(create(FilesystemEventSchema, { name: rel(e.path), type, ...(entry && withEntry ? { entry: entryInfo(e) } : {}) }))
  for (const [path, e] of after) {
    const was = before.get(path)
    if (!was) event(e, EventType.CREATE, true)
    else if (e.type !== 'dir' && (was.size !== e.size || was.modifiedAt !== e.modifiedAt)) event(e, EventType.WRITE, true)
  }
  for (const [path, e] of before) if (!after.has(path)) event(e, EventType.REMOVE, false)
  return events
}

interface Watcher {
  call: EnvdCall
  path: string
  recursive: boolean
  withEntry: boolean
  tree: Tree
  used: number
}
const watchers = new Map<string, Watcher>()

function sweep(now: number): void {
  for (const [id, w] of watchers) if (now - w.used > WATCHER_IDLE_MS) watchers.delete(id)
}

function target(ctx: HandlerContext, path: string): { c: EnvdCall; path: string } {
  return { c: envdCallOf(ctx), path: absolute(path, userOf(ctx.requestHeader.get('authorization'))) }
}

export const watchService: Partial<ServiceImpl<typeof Filesystem>> = {
  async *watchDir(req, ctx) {
    const { c, path } = target(ctx, req.path)
    let tree: Tree
    try {
      tree = await list(c, path, req.recursive)
    } catch (err) {
      throw toConnectError(err)
    }
    yield { event: { case: 'start', value: create(WatchDirResponse_StartEventSchema) } }
    const pingMs = Math.max(1, Math.min(Number(ctx.requestHeader.get('keepalive-ping-interval') ?? '50') || 50, 3600)) * 1000
    let quiet = 0
    while (!ctx.signal.aborted) {
      await sleep(POLL_MS, ctx.signal)
      if (ctx.signal.aborted) break
      let next: Tree
      try {
        next = await list(c, path, req.recursive)
      } catch (err) {
        throw toConnectError(err)
      }
      const events = diff(path, tree, next, req.includeEntry)
      tree = next
      for (const filesystem of events) yield { event: { case: 'filesystem', value: filesystem } }
      quiet = events.length ? 0 : quiet + POLL_MS
      if (quiet >= pingMs) {
        quiet = 0
        yield { event: { case: 'keepalive', value: create(WatchDirResponse_KeepAliveSchema) } }
      }
    }
  },

  async createWatcher(req, ctx) {
    const { c, path } = target(ctx, req.path)
    const now = Date.now()
    sweep(now)
    if (watchers.size >= MAX_WATCHERS) throw new ConnectError(`${MAX_WATCHERS} watchers are open; remove some (RemoveWatcher)`, Code.ResourceExhausted)
    try {
      const tree = await list(c, path, req.recursive)
      const id = randomUUID()
      watchers.set(id, { call: c, path, recursive: req.recursive, withEntry: req.includeEntry, tree, used: now })
      return { watcherId: id }
    } catch (err) {
      throw toConnectError(err)
    }
  },

  async getWatcherEvents(req, ctx) {
    const w = own(req.watcherId, ctx)
    try {
      const next = await list(w.call, w.path, w.recursive)
      const events = diff(w.path, w.tree, next, w.withEntry)
      w.tree = next
      w.used = Date.now()
      return { events }
    } catch (err) {
      throw toConnectError(err)
    }
  },

  async removeWatcher(req, ctx) {
    own(req.watcherId, ctx)
    watchers.delete(req.watcherId)
    return {}
  },
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}

/** A watcher of this sandbox, made by this caller's token. */
function own(id: string, ctx: HandlerContext): Watcher {
  const c = envdCallOf(ctx)
  const w = watchers.get(id)
  if (!w || w.call.sandboxId !== c.sandboxId || w.call.principal.tokenId !== c.principal.tokenId) throw new ConnectError(`watcher ${id} not found`, Code.NotFound)
  return w
}
