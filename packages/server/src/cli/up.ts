/** @module cli/up — `tidepool up`: serve the API; `--demo` also walks through a sandbox's life once it is up. */
import { join } from 'node:path'
import { loadConfig, type Config } from '../config.js'
import type { CliCommand } from './command.js'

export function upCommand(configFile: () => string | undefined): CliCommand {
  return {
    words: ['up'],
    summary: 'Start the control plane (API on 127.0.0.1:7070, embedded SQLite, local runtime)',
    usage: '[--port N] [--host ADDR] [--log-level LEVEL] [--demo]',
    options: { port: { type: 'string' }, host: { type: 'string' }, 'log-level': { type: 'string' }, demo: { type: 'boolean' } },
    async run({ values, io }) {
      const overrides: Partial<Config> = {
        ...(values.port !== undefined ? { port: Number(values.port) } : {}),
        ...(values.host !== undefined ? { host: String(values.host) } : {}),
        ...(values['log-level'] !== undefined ? { logLevel: String(values['log-level']) as Config['logLevel'] } : {}),
      }
      const config = loadConfig({ env: process.env, file: configFile(), overrides })
      // The demo is for a person reading the terminal: its logs go to a file, and only warnings and errors
      // also reach stderr. Without --demo logs go to stderr as always (stdout stays for output).
      const logFile = values.demo ? join(config.home, 'logs', 'tidepool.log') : undefined
      const logger = logFile ? (await import('../core/log.js')).createLogger(config.logLevel, { file: logFile, stderrLevel: 'warn' }) : undefined
      // Loaded here, not at the top: every other CLI command starts without the server's dependencies.
      const { buildControlPlane } = await import('../main.js')
      const cp = await buildControlPlane(config, { env: process.env, freezePrototypes: true, router: true, ...(logger ? { logger } : {}) })
      const { url, routerPort } = await cp.listen()
      io.info(`tidepool listening on ${url} (data in ${config.home}, store ${config.storeUrl ?? 'sqlite'}, runtime ${config.runtime.kind})`)
      io.info(`request router on http://${config.router.host}:${routerPort} (routed URLs http://<service>.<env>.localhost:${routerPort})`)
      if (logFile) io.info(`logs (level ${config.logLevel}; --log-level or TIDEPOOL_LOG_LEVEL to change) go to ${logFile}; warnings also here`)
      if (cp.adminToken) {
        io.info(`admin token (shown once; also in ${config.home}/admin.token, mode 0600):\n  ${cp.adminToken}`)
      }
      const stop = async (signal: string) => {
        io.info(`tidepool: ${signal}, shutting down (sandboxes keep running and are adopted on the next start)`)
        await cp.close()
        process.exit(0)
      }
      process.once('SIGINT', () => void stop('SIGINT'))
      process.once('SIGTERM', () => void stop('SIGTERM'))
      // SIGHUP reads the policy files again; an invalid set is refused (logged) and the old one stays.
      process.on('SIGHUP', () => {
        try {
          const s = cp.svc.policy.reload()
          io.info(`tidepool: SIGHUP, policy reloaded (${s.policies.length} policies, version ${s.version})`)
        } catch (err) {
          io.info(`tidepool: SIGHUP, policy reload refused, the previous policies stay in force: ${(err as Error).message}`)
        }
      })
      if (values.demo) {
        const token = cp.adminToken ?? (await import('node:fs')).readFileSync(`${config.home}/admin.token`, 'utf8').trim()
        const { runDemo } = await import('./demo.js')
        await runDemo(url, token, io).catch((err: unknown) => io.info(`demo failed: ${(err as Error).message}`))
        io.info(
          `\nThe server keeps running on ${url}. Try:\n  export TIDEPOOL_TOKEN=$(cat ${config.home}/admin.token)\n  npx tidepool sandbox create\n  npx tidepool exec <id> -- uname -a\nCtrl-C stops it.`,
        )
      }
      await new Promise(() => {})
      return 0
    },
  }
}
