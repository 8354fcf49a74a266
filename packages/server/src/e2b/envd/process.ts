/**
 * @module e2b/envd/process — envd's process.Process over tidepool's commands: every process is a tidepool
 * background command (it outlives the caller's connection), followed through waitCommand. The Start and
 * Connect streams send the start event first, then output, then the end; Connect-Timeout-Ms (the SDK's
 * timeoutMs) ends the command, a client that disconnects does not. A PTY session is a background command
 * on a pseudo-terminal of the sandbox (its output comes as pty data); Update resizes it.
 */
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect'
import type { CommandInfo, ExecResult } from '@tidepool/sdk'
import { call, callStream } from '../call.js'
import { create } from '@bufbuild/protobuf'
import { Process, ProcessEvent_DataEventSchema, ProcessEvent_EndEventSchema, ProcessEvent_KeepAliveSchema, Signal, type ProcessEvent } from '../gen/process_pb.js'
import { envdCallOf, toConnectError, userOf, type EnvdCall } from './context.js'
import { withKeepalive } from './keepalive.js'

/** A command without Connect-Timeout-Ms runs until the longest timeout tidepool allows. */
const MAX_TIMEOUT_MS = 86_400_000
type Event = ProcessEvent['event']

export const processService: Partial<ServiceImpl<typeof Process>> = {
  async *start(req, ctx) {
    const c = envdCallOf(ctx)
    const cfg = req.process
    if (!cfg?.cmd) throw new ConnectError('process.cmd is required', Code.InvalidArgument)
    const size = req.pty?.size
    if (req.pty && (!size?.cols || !size.rows)) throw new ConnectError('pty.size needs cols and rows above 0', Code.InvalidArgument)
    let lines: AsyncIterable<unknown>
    try {
      const user = userOf(ctx.requestHeader.get('authorization'))
      const timeoutMs = ctx.timeoutMs()
      // One dispatch starts the background command and follows it (its pid comes first): no second
      // authorisation, sandbox lookup and audit record for the wait.
      lines = await callStream(c.svc, c.principal, 'exec', {
        id: c.sandboxId,
        cmd: [cfg.cmd, ...cfg.args],
        ...(Object.keys(cfg.envs).length ? { envs: cfg.envs } : {}),
        ...(cfg.cwd ? { cwd: cfg.cwd } : {}),
        ...(user ? { user } : {}),
        background: true,
        // The SDKs send stdin: false unless asked; an older one leaves it out, meaning open (envd's default).
        keepStdin: req.stdin !== false || size !== undefined,
        ...(size ? { pty: { cols: size.cols, rows: size.rows } } : {}),
        timeoutMs: timeoutMs && timeoutMs > 0 ? Math.min(timeoutMs, MAX_TIMEOUT_MS) : MAX_TIMEOUT_MS,
      })
    } catch (err) {
      throw toConnectError(err)
    }
    const it = lines[Symbol.asyncIterator]()
    const first = (await it.next().catch((err: unknown) => {
      throw toConnectError(err)
    })) as IteratorResult<{ pid?: number }>
    if (first.done || typeof first.value.pid !== 'number') throw new ConnectError('the command did not report its pid', Code.Internal)
    yield { event: { event: { case: 'start', value: { pid: first.value.pid } } } }
    const rest: AsyncIterable<unknown> = { [Symbol.asyncIterator]: () => it }
    for await (const event of events(rest, ctx, size !== undefined)) yield { event: { event } }
  },

  async *connect(req, ctx) {
    const c = envdCallOf(ctx)
    const info = await commandOf(c, req.process?.selector)
    yield { event: { event: { case: 'start', value: { pid: info.pid } } } }
    for await (const event of follow(c, info.pid, ctx, info.pty !== undefined)) yield { event: { event } }
  },

  async list(_req, ctx) {
    const c = envdCallOf(ctx)
    try {
      const { items } = await call(c.svc, c.principal, 'listCommands', { id: c.sandboxId })
      const processes = items.filter((i) => i.state === 'running').map((i) => ({ pid: i.pid, config: { cmd: i.cmd[0] ?? '', args: i.cmd.slice(1), envs: {} } }))
      return { processes }
    } catch (err) {
      throw toConnectError(err)
    }
  },

  async sendInput(req, ctx) {
    const c = envdCallOf(ctx)
    const input = req.input?.input
    if (input?.case !== 'stdin' && input?.case !== 'pty') throw new ConnectError('input.stdin or input.pty is required', Code.InvalidArgument)
    const pid = await pidOf(c, req.process?.selector)
    await stdin(c, pid, input.value, false)
    return {}
  },

  /** Client-streaming stdin: a start event naming the process first, then data (stdin or pty) and keepalives. */
  async streamInput(reqs, ctx) {
    const c = envdCallOf(ctx)
    let pid: number | undefined
    for await (const r of reqs) {
      const ev = r.event
      if (ev.case === 'start') {
        if (pid !== undefined) throw new ConnectError('the input stream names its process once, in its first event', Code.InvalidArgument)
        pid = await pidOf(c, ev.value.process?.selector)
      } else if (ev.case === 'data') {
        if (pid === undefined) throw new ConnectError('the input stream starts with a start event naming the process', Code.InvalidArgument)
        const input = ev.value.input?.input
        if (input?.case !== 'stdin' && input?.case !== 'pty') throw new ConnectError('data.input.stdin or data.input.pty is required', Code.InvalidArgument)
        await stdin(c, pid, input.value, false)
      }
    }
    if (pid === undefined) throw new ConnectError('the input stream starts with a start event naming the process', Code.InvalidArgument)
    return {}
  },

  async update(req, ctx) {
    const c = envdCallOf(ctx)
    const size = req.pty?.size
    if (!size?.cols || !size.rows) throw new ConnectError('pty.size needs cols and rows above 0', Code.InvalidArgument)
    const pid = await pidOf(c, req.process?.selector)
    try {
      await call(c.svc, c.principal, 'resizeCommand', { id: c.sandboxId, pid, cols: size.cols, rows: size.rows })
      return {}
    } catch (err) {
      throw toConnectError(err)
    }
  },

  async closeStdin(req, ctx) {
    const c = envdCallOf(ctx)
    const pid = await pidOf(c, req.process?.selector)
    await stdin(c, pid, new Uint8Array(0), true)
    return {}
  },

  async sendSignal(req, ctx) {
    const c = envdCallOf(ctx)
    if (req.signal !== Signal.SIGKILL && req.signal !== Signal.SIGTERM) throw new ConnectError(`signal ${req.signal} is not one of SIGKILL, SIGTERM`, Code.InvalidArgument)
    const info = await commandOf(c, req.process?.selector)
    // As envd: a process that has ended is not there to signal (the SDK's kill() reads this as false).
    if (info.state !== 'running') throw new ConnectError(`process with pid ${info.pid} not found (it has exited)`, Code.NotFound)
    const pid = info.pid
    try {
      // SIGKILL ends the command's whole process tree (tidepool kills by cgroup); SIGTERM goes to its
      // main process as envd sends it, so a command may catch it and clean up.
      if (req.signal === Signal.SIGKILL) await call(c.svc, c.principal, 'killCommand', { id: c.sandboxId, pid })
      else await call(c.svc, c.principal, 'signalCommand', { id: c.sandboxId, pid, signal: 'SIGTERM' })
      return {}
    } catch (err) {
      throw toConnectError(err)
    }
  },
}

async function stdin(c: EnvdCall, pid: number, data: Uint8Array, eof: boolean): Promise<void> {
  try {
    await call(c.svc, c.principal, 'writeCommandStdin', { id: c.sandboxId, pid, data: Buffer.from(data).toString('base64'), encoding: 'base64', eof })
  } catch (err) {
    throw toConnectError(err)
  }
}

type Selector = { case: 'pid'; value: number } | { case: 'tag'; value: string } | { case: undefined; value?: undefined } | undefined

async function pidOf(c: EnvdCall, selector: Selector): Promise<number> {
  return (await commandOf(c, selector)).pid
}

/** The command a selector names: a pid as it is (a running or finished command of this sandbox), tags are not kept. */
async function commandOf(c: EnvdCall, selector: Selector): Promise<CommandInfo> {
  if (selector?.case === 'pid') {
    const { items } = await call(c.svc, c.principal, 'listCommands', { id: c.sandboxId }).catch((err: unknown) => {
      throw toConnectError(err)
    })
    const found = items.find((i) => i.pid === selector.value)
    if (!found) throw new ConnectError(`process with pid ${selector.value} not found`, Code.NotFound)
    return found
  }
  if (selector?.case === 'tag') throw new ConnectError(`process with tag ${selector.value} not found (tidepool does not keep tags)`, Code.NotFound)
  throw new ConnectError('process selector (pid or tag) is required', Code.InvalidArgument)
}

/** The events of a command from now on: output as it comes (what it printed before, first; a pty's as pty data), then its end. */
async function* follow(c: EnvdCall, pid: number, ctx: HandlerContext, pty: boolean): AsyncGenerator<Event> {
  let lines: AsyncIterable<unknown>
  try {
    lines = await callStream(c.svc, c.principal, 'waitCommand', { id: c.sandboxId, pid })
  } catch (err) {
    throw toConnectError(err)
  }
  yield* events(lines, ctx, pty)
}

/** A command's stream lines as envd events, with keepalives as the client asked. */
async function* events(lines: AsyncIterable<unknown>, ctx: HandlerContext, pty: boolean): AsyncGenerator<Event> {
  const interval = Number(ctx.requestHeader.get('keepalive-ping-interval') ?? '0')
  const events = withKeepalive(lines, interval > 0 ? Math.min(interval, 3600) * 1000 : 0, ctx.signal)
  try {
    for await (const line of events) {
      if (line === withKeepalive.ping) {
        yield { case: 'keepalive', value: create(ProcessEvent_KeepAliveSchema) }
        continue
      }
      const l = line as { stream?: 'stdout' | 'stderr'; data?: string } & Partial<ExecResult>
      if (l.stream) yield { case: 'data', value: create(ProcessEvent_DataEventSchema, { output: { case: pty ? 'pty' : l.stream, value: Buffer.from(l.data ?? '', 'utf8') } }) }
      else if (typeof l.exitCode === 'number') {
        const status = l.timedOut ? 'deadline exceeded' : l.exitCode > 128 ? `signal: ${l.exitCode - 128}` : `exit status ${l.exitCode}`
        yield {
          case: 'end',
          value: create(ProcessEvent_EndEventSchema, { exitCode: l.exitCode, exited: !l.timedOut, status, ...(l.timedOut ? { error: 'the command ran past its timeout and was killed' } : {}) }),
        }
        return
      }
    }
  } catch (err) {
    throw toConnectError(err)
  }
  // The stream ended without the command's end: the deadline passed (the command is killed by its own
  // timeout) or the client left (the command keeps running; nobody reads this error).
  if (ctx.signal.aborted) throw toConnectError(ctx.signal.reason ?? new ConnectError('the call ended', Code.Canceled))
}
