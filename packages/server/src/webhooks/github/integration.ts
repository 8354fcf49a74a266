/** @module webhooks/github/integration — the GitHub side as the rest of the server sees it: the adapter and what incoming payloads need. */
import type { GithubAdapter } from './adapter.js'

export interface GithubIntegration {
  adapter: GithubAdapter
  /** The secret GitHub signs webhooks with (from the env var config webhooks.github.webhookSecretEnv names); none: incoming payloads are refused. */
  webhookSecret: string | undefined
  /** Token id incoming payloads create runs as (config webhooks.github.runsAs). */
  runsAs: string | undefined
}
