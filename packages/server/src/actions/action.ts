/** @module actions/action — the shape of one built-in action, and what it may reach while it runs. */
import type { Principal, Scope } from '@tidepool/sdk'
import type { z } from 'zod'

/** A command run inside a sandbox, as the actions area asks for it (the sandboxes area's exec, handed in by main.ts). */
export interface SandboxExecRequest {
  cmd: string[]
  cwd?: string | undefined
  envs?: Record<string, string> | undefined
  user?: 'user' | 'root'
  stdin?: string | undefined
  timeoutMs: number
}

/** What the action sees of a finished command (the sandboxes area's ExecResult, narrowed). */
export interface SandboxExecResult {
  exitCode: number
  stdout: string
  stderr: string
  timedOut: boolean
  truncated: boolean
}

/** The one thing the actions area needs from the sandboxes area: run a command as the caller (so scoping is the API's). */
export interface SandboxExec {
  exec(principal: Principal, sandboxId: string, req: SandboxExecRequest): Promise<SandboxExecResult>
}

/** The one thing the actions area needs from the data area: a clone's connection URL, as the caller sees it. */
export interface CloneAccess {
  /** The clone `cloneId`, or the one bound to `sandboxId`: its postgresql:// URL. not_found when there is none. */
  url(principal: Principal, ref: { cloneId?: string | undefined; sandboxId?: string | undefined }): Promise<string>
}

/** What a running action may use. `exec` exists only for actions that need a sandbox. */
export interface ActionEnv {
  /** The postgresql:// URL of the clone named in the input, or of the one bound to the action's sandbox. */
  cloneUrl(cloneId: string | undefined): Promise<string>
  /** Runs a command in the action's sandbox; its timeout never exceeds what is left of the action's deadline. */
  exec(req: Omit<SandboxExecRequest, 'timeoutMs'> & { timeoutMs?: number }): Promise<SandboxExecResult>
  /** Aborted at the deadline. */
  signal: AbortSignal
  /** Milliseconds left before the deadline. */
  remainingMs(): number
  /** Waits `ms` (or until the deadline), without keeping the process alive. */
  sleep(ms: number): Promise<void>
}

/** An action's outcome before the service adds timing: `ok` is the verdict, `output` the data. */
export interface ActionOutcome<O> {
  ok: boolean
  output: O
}

export interface Action<I extends z.ZodType = z.ZodType, O extends z.ZodType = z.ZodType> {
  name: string
  summary: string
  input: I
  output: O
  /** Default deadline of one run in ms. */
  timeoutMs: number
  needsSandbox: boolean
  /** A scope the caller needs besides runAction's own (sandbox actions need sandboxes:write anyway). */
  requires?: Scope
  /** Only observes: changes nothing (the MCP tool's readOnlyHint). */
  readOnly: boolean
  run(input: z.output<I>, env: ActionEnv): Promise<ActionOutcome<z.output<O>>>
}

/** Declares an action with its types inferred (a plain object literal, checked). */
export function defineAction<I extends z.ZodType, O extends z.ZodType>(a: Action<I, O>): Action<I, O> {
  return a
}
