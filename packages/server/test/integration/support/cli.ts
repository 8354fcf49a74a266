/** Runs the built CLI from integration tests. */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { cliPath } from './host.js'

export interface CliResult {
  status: number | null
  stdout: string
  stderr: string
}

/**
 * A function running `tidepool <args…>` with `env`. Asynchronous on purpose: the server under test runs in
 * the test's own process, so a synchronous spawn would block it and deadlock.
 */
export function cliRunner(env: NodeJS.ProcessEnv, cwd?: string): (...args: string[]) => Promise<CliResult> {
  if (!existsSync(cliPath)) throw new Error(`${cliPath} is not built; run \`npm run build\` (npm test does it first)`)
  return (...args) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [cliPath, ...args], { env, ...(cwd ? { cwd } : {}) })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      child.once('error', reject)
      child.on('close', (status) => resolve({ status, stdout, stderr }))
    })
}
