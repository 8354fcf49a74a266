/** @module actions/exec-action — `exec`: one command in the sandbox, without its timing (deterministic output). */
import { z } from 'zod'
import { defineAction } from './action.js'

export const execAction = defineAction({
  name: 'exec',
  summary: 'Run a command in the sandbox; ok when it exits 0 (the output has no timing: it is deterministic)',
  needsSandbox: true,
  readOnly: false,
  timeoutMs: 600_000,
  input: z
    .object({
      cmd: z.union([z.array(z.string().max(131_072)).min(1).max(4096), z.string().min(1).max(131_072)]).describe('argv array, or a string run with /bin/sh -c.'),
      cwd: z.string().max(4096).startsWith('/').optional(),
      envs: z.record(z.string().max(256), z.string().max(131_072)).optional(),
      user: z.enum(['user', 'root']).default('user'),
      stdin: z.string().max(1_000_000).optional().describe('Text written to stdin (larger input: the exec operation).'),
    })
    .strict(),
  output: z.object({ exitCode: z.number().int(), stdout: z.string(), stderr: z.string(), timedOut: z.boolean(), truncated: z.boolean() }),
  run: async (i, env) => {
    const cmd = typeof i.cmd === 'string' ? ['/bin/sh', '-c', i.cmd] : i.cmd
    const r = await env.exec({ cmd, cwd: i.cwd, envs: i.envs, user: i.user, stdin: i.stdin })
    const output = { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, truncated: r.truncated }
    return { ok: r.exitCode === 0 && !r.timedOut, output }
  },
})
