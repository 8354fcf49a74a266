/** @module sandboxes/handlers — handlers of the sandbox, command and file operations. */
import type { SandboxOpName } from '@tidepool/sdk'
import type { EventLog } from '../kit/events.js'
import { StreamResult } from '../kit/context.js'
import { decodeCursor } from '../kit/cursor.js'
import type { HandlerTable } from '../kit/handler-table.js'
import { pageOf } from '../kit/page.js'
import type { CommandService } from './commands.js'
import type { FileService } from './files.js'
import type { RunService } from './run.js'
import type { SandboxService } from './sandboxes.js'

/** The services the sandbox area's handlers use. */
export interface SandboxAreaServices {
  sandboxes: SandboxService
  commands: CommandService
  files: FileService
  runs: RunService
  events: EventLog
}

export const sandboxHandlers: HandlerTable<SandboxOpName, SandboxAreaServices> = {
  createSandbox: async (i, ctx, svc) => svc.sandboxes.create(ctx.principal, i),
  listSandboxes: async (i, ctx, svc) => svc.sandboxes.list(ctx.principal, i),
  getSandbox: async (i, ctx, svc) => svc.sandboxes.get(ctx.principal, i.id),
  patchSandbox: async (i, ctx, svc) => svc.sandboxes.patch(ctx.principal, i.id, i),
  deleteSandbox: async (i, ctx, svc) => svc.sandboxes.destroy(ctx.principal, i.id, 'killed_by_user'),
  pauseSandbox: async (i, ctx, svc) => svc.sandboxes.pause(ctx.principal, i.id, 'paused_by_user'),
  resumeSandbox: async (i, ctx, svc) => svc.sandboxes.resume(ctx.principal, i.id, 'resumed_by_user'),
  getSandboxMetrics: async (i, ctx, svc) => svc.sandboxes.metrics(ctx.principal, i.id),
  listWarmPools: async (_i, ctx, svc) => ({ items: svc.sandboxes.pools.stats(ctx.principal.project).map(({ name: _name, ...s }) => s) }),
  listSandboxEvents: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id) // scoping: 404 for a foreign sandbox
    await svc.commands.flush() // read your writes: exec events are written just after the response
    const after = decodeCursor(i.nextToken)
    const items = await svc.events.list({ sandboxId: i.id, afterSeq: after ? Number(after) : undefined, limit: i.limit + 1 })
    return pageOf(items, i.limit, (e) => String(e.seq))
  },
  exec: async (i, ctx, svc) => {
    if (i.background) {
      const info = await svc.commands.startBackground(ctx.principal, i.id, i)
      // Streamed: its pid, then what it prints and its result, in one call; a client that leaves does not end it.
      return ctx.stream ? new StreamResult(svc.commands.followStarted(i.id, info)) : info
    }
    if (ctx.stream) return new StreamResult(svc.commands.stream(ctx.principal, i.id, i, ctx.signal))
    return svc.commands.run(ctx.principal, i.id, i)
  },
  run: async (i, ctx, svc) => (ctx.stream ? new StreamResult(svc.runs.stream(ctx.principal, i, ctx.signal)) : svc.runs.run(ctx.principal, i)),
  listCommands: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    return { items: svc.commands.list(i.id) }
  },
  waitCommand: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    if (ctx.stream) return new StreamResult(svc.commands.follow(i.id, i.pid))
    return svc.commands.wait(i.id, i.pid)
  },
  killCommand: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    return svc.commands.kill(i.id, i.pid)
  },
  writeCommandStdin: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    return svc.commands.writeStdin(i.id, i.pid, Buffer.from(i.data, i.encoding), i.eof)
  },
  resizeCommand: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    return svc.commands.resize(i.id, i.pid, i.cols, i.rows)
  },
  signalCommand: async (i, ctx, svc) => {
    await svc.sandboxes.row(ctx.principal, i.id)
    return svc.commands.signal(i.id, i.pid, i.signal)
  },
  readFile: async (i, ctx, svc) => svc.files.read(ctx.principal, i.id, i.path),
  listFiles: async (i, ctx, svc) => ({ items: await svc.files.list(ctx.principal, i.id, i.path, i.depth) }),
  statFile: async (i, ctx, svc) => svc.files.stat(ctx.principal, i.id, i.path),
  writeFile: async (i, ctx, svc) => svc.files.write(ctx.principal, i.id, i.path, i.content),
  deleteFile: async (i, ctx, svc) => svc.files.remove(ctx.principal, i.id, i.path),
  makeDir: async (i, ctx, svc) => svc.files.makeDir(ctx.principal, i.id, i.path),
  renameFile: async (i, ctx, svc) => svc.files.rename(ctx.principal, i.id, i.from, i.to),
}
