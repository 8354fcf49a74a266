/**
 * @module core/input-patterns — every source file of `packages/server/src` and `packages/sdk/src` that
 * holds a regular expression, with what input those expressions see (or why they see none).
 *
 * `input-patterns.test.ts` finds every regular expression literal in those trees with the TypeScript
 * parser, fails for a file not listed here, and times EVERY literal it found (listed as input or not)
 * on pathological inputs of size n to 16n: generic ones derived from the pattern's own characters and
 * words, plus the `evil` ones below. So a new regex cannot slip past: it is either linear on every
 * such input, or the test names it. `new RegExp` (a pattern built at run time, which no test can
 * enumerate) is refused outright: write a scan instead (see `data/masking.ts`'s glob matcher).
 */

export interface RegexFile {
  /** What input the file's regexes see and how it is bounded before they run; or `none: <why>`. */
  readonly input: string
  /** Pathological inputs (by size) that the generic ones might miss, for this file's regexes. */
  readonly evil?: readonly ((n: number) => string)[]
}

const rep = (unit: string, n: number): string => unit.repeat(Math.max(1, Math.ceil(n / unit.length)))

/** Keyed by path relative to `packages/`. */
export const regexFiles: Readonly<Record<string, RegexFile>> = {
  'server/src/audit/audit-row.ts': { input: 'strings of an audit record (request fields bounded at the edge; one character class, no quantifier)' },
  'server/src/core/safe-input.ts': { input: 'every request string (\\p{Cs}: one character class, no quantifier)' },
  'server/src/runtime/gvisor/exec-wrapper.ts': { input: 'none: the header line our own wrapper script writes (anchored, bounded quantifier)' },
  'server/src/runtime/gvisor/gvisor-cgroups.ts': { input: 'none: /proc/self/mountinfo (octal escapes, fixed length)' },
  'server/src/runtime/gvisor/gvisor-runtime.ts': { input: 'runtime.cgroupName from the config (anchored, one character class)' },
  'server/src/runtime/local/disk-pool.ts': { input: 'none: output of btrfs/losetup and sysfs files' },
  'server/src/runtime/local/instance.ts': { input: 'none: the instance file tidepool wrote (anchored, fixed length)' },
  'server/src/runtime/local/network/address-pool.ts': { input: 'runtime.network.range from the config (anchored, bounded quantifiers), names in /sys/class/net (anchored, fixed length)' },
  'server/src/runtime/local/network/local-network.ts': { input: 'none: names in /sys/class/net (anchored, fixed length)' },
  'server/src/sandboxes/file-scripts.ts': { input: 'none: exit codes and stderr of our own scripts' },
  'server/src/runtime/local/runtime-error.ts': { input: "none: the helper's own failure report (anchored)" },
  'server/src/store/like.ts': { input: 'a search string (one character class, no quantifier)' },
  'server/src/store/sqlite-file.ts': { input: 'none: names of entries in the home directory (anchored literals)' },
  'sdk/src/api-error.ts': { input: 'a Retry-After header of a response' },
  'sdk/src/client.ts': { input: 'the baseUrl option' },
  'sdk/src/http-exchange.ts': { input: "none: the operation table's own paths" },
  'sdk/src/contract/templates.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/auth.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/call-meta.ts': { input: 'a run id (one character class, no quantifier; bounded by .max first)' },
  'sdk/src/contract/common.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/network.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/data.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/gate.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'server/src/gate/classify.ts': { input: 'none: the parser’s node names (`OBJECT_…` kinds); the SQL itself is only ever parsed, never matched' },
  'server/src/gate/observe.ts': { input: 'a role name or a catalog identifier (one literal character, no quantifier), schema lines read from pg_catalog (anchored literal)' },
  'sdk/src/contract/insights.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/sandbox.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/webhooks.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'sdk/src/contract/workflows.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'server/src/bench/sandbox.ts': { input: 'none: /proc/meminfo in the benchmark' },
  'server/src/bench/ports.ts': { input: "none: the benchmark's own server's first line" },
  'server/src/cli/commands/data.ts': { input: 'command-line arguments' },
  'server/src/cli/commands/insights.ts': { input: 'command-line arguments and file names' },
  'server/src/cli/commands/sandbox.ts': { input: 'command-line arguments' },
  'server/src/cli/io.ts': { input: 'command-line durations' },
  'server/src/cli/commands/run.ts': { input: 'command-line arguments (one character class, no quantifier)' },
  'server/src/e2b/envd/context.ts': { input: "an envd request's Authorization header (anchored, bounded), a file path of a request, and our own error messages" },
  'server/src/e2b/envd/server.ts': { input: 'the E2b-Sandbox-Id header and the Host name (anchored, bounded quantifier), the first 8 KiB of a request URL (one literal after a character class)' },
  'server/src/e2b/keys.ts': { input: 'an X-API-KEY header and an envd access token (anchored character classes)' },
  'server/src/e2b/signed-urls.ts': { input: 'the signature and signature_expiration of a signed file URL (anchored, bounded quantifiers), and our own base64 digest' },
  'server/src/e2b/rest-snapshots.ts': { input: 'a templateID of an E2B create and a template id of a DELETE (anchored, bounded quantifier)' },
  'server/src/e2b/rest.ts': { input: 'the Authorization header of an E2B REST request (anchored)' },
  'server/src/config.ts': { input: 'config.yaml values and TIDEPOOL_* variables' },
  'server/src/data/copy-text.ts': { input: 'rows read from a source database (COPY text)' },
  'server/src/data/masking.ts': { input: 'column and table names of a source database (PostgreSQL caps them at 63 bytes)' },
  'server/src/data/mirror-builder.ts': { input: 'stderr of pg_dump/psql run against a source database', evil: [(n) => `could not open extension control file "${rep('/a', n)}`] },
  'server/src/data/mirrors.ts': { input: "a source database's name" },
  'server/src/data/pg-admin.ts': { input: 'identifiers and literals quoted for SQL' },
  'server/src/data/pg-binaries.ts': { input: 'none: `postgres --version` output' },
  'server/src/data/pg-server.ts': { input: "PostgreSQL's log tail and /proc entries" },
  'server/src/data/psql.ts': { input: 'psql stderr' },
  'server/src/data/sampler.ts': { input: 'values read from a source database' },
  'server/src/data/source-url.ts': {
    input: 'a data source URL (request field)',
    evil: [(n) => `postgresql://${rep('a', n)}`, (n) => `postgres://${rep('@', n)}`, (n) => `postgresql://u:${rep('p', n)}`],
  },
  'server/src/data/source.ts': { input: 'error messages of the pg driver' },
  'server/src/http/app.ts': { input: "the Authorization header; the operation table's own paths", evil: [(n) => `Bearer${rep(' ', n)}x`, (n) => `Bearer ${rep(' \t', n)}`] },
  'server/src/http/webhook-routes.ts': { input: 'claims of a verified approval link (one character class, no quantifier)' },
  'server/src/webhooks/signing.ts': { input: 'the X-Tidepool-Timestamp header a receiver got (anchored, bounded quantifier)' },
  'server/src/http/openapi.ts': { input: "none: the operation table's own paths" },
  'server/src/http/port-proxy.ts': { input: 'the Authorization header of a request to a sandbox port', evil: [(n) => `Bearer${rep(' ', n)}x`, (n) => `Bearer ${rep(' \t', n)}`] },
  'server/src/insights/clean.ts': { input: 'JUnit text (names, messages, output)', evil: [(n) => `\u001b[${rep('0', n)}`, (n) => `\u001b]${rep('a', n)}`] },
  'server/src/insights/identity.ts': { input: 'file paths from JUnit XML', evil: [(n) => `/builds/${rep('a/', n)}`, (n) => `/builds/${rep('src/', n)}`] },
  'server/src/insights/junit.ts': { input: 'JUnit XML attribute values' },
  'server/src/insights/junit-fold.ts': { input: 'JUnit XML time attributes (anchored, bounded repeats)' },
  'server/src/insights/kpis.ts': { input: 'the window query parameter (validated by the contract first)' },
  'server/src/insights/llm.ts': { input: 'none: the configured LLM URL' },
  'server/src/insights/recommend.ts': { input: 'failure messages from JUnit XML', evil: [(n) => rep('relation ', n), (n) => rep('table ', n), (n) => rep('fixture ', n)] },
  'server/src/insights/signature.ts': {
    input: 'failure messages and stack traces from JUnit XML',
    evil: [
      (n) => rep('/a', n),
      (n) => `${rep('/a', n)}:`,
      (n) => rep('/a:1', n),
      (n) => rep('a.', n),
      (n) => `${rep('a.', n)}:`,
      (n) => rep('a-', n),
      (n) => rep('a1', n),
      (n) => rep('1.', n),
      (n) => rep('[:', n),
      (n) => rep('502 ', n),
      (n) => rep('container ', n),
      (n) => rep('runner ', n),
      (n) => rep('agent ', n),
      (n) => `File "${rep('a', n)}`,
    ],
  },
  'server/src/insights/synthetic.ts': { input: 'none: test data it generates itself' },
  'server/src/insights/triage.ts': { input: 'failure messages and names from JUnit XML' },
  'server/src/insights/xml.ts': { input: 'a JUnit XML body', evil: [(n) => `<?xml ${rep(' ', n)}`, (n) => `<?xml ${rep('encoding=', n)}`] },
  'server/src/runtime/local/adopted-exec.ts': { input: 'none: names of exec files it made' },
  'server/src/runtime/local/cgroups/cgroups.ts': { input: 'none: names of cgroup directories' },
  'server/src/runtime/local/cgroups/layout.ts': { input: 'none: /proc/mounts' },
  'server/src/runtime/local/cgroups/v2.ts': { input: 'none: cgroup files' },
  'server/src/runtime/local/local-runtime.ts': { input: 'sandbox ids and configured paths' },
  'server/src/runtime/local/mounts.ts': { input: 'paths from requests and config' },
  'server/src/runtime/local/preflight.ts': { input: 'none: /proc files' },
  'server/src/runtime/local/proc.ts': { input: 'none: /proc/self/status' },
  'server/src/runtime/sandbox-checks.ts': { input: 'sandbox ids' },
  'server/src/sandboxes/files.ts': { input: 'request paths and the stderr of file commands' },
  'server/src/storage/dir-pool.ts': { input: 'filefrag output for files a sandbox wrote', evil: [(n) => ` 1: ${rep('1', n)}`, (n) => ` 1: 1.. 1: 1.. 1: 1:${rep(' ', n)}`] },
  'server/src/storage/loop-image.ts': { input: 'none: /proc/self/mounts' },
  'server/src/actions/assert-actions.ts': { input: 'keys of a JSON value an action compares (bounded by the request body limit; anchored, one class and its repeat)' },
  'server/src/actions/linear-regex.ts': { input: 'the message of a RegExp syntax error' },
  'server/src/actions/wait-for.ts': { input: 'a wait.for path (≤ 2048 chars, one class) and /proc/net/tcp lines of the sandbox' },
  'server/src/mcp/http-mount.ts': { input: 'the Authorization header of an MCP request (header size bounded by the HTTP server)' },
  'server/src/mcp/resources.ts': { input: 'resource URIs an MCP client reads (anchored)' },
  'server/src/mcp/tools.ts': { input: "none: the operation table's own names" },
  'sdk/src/contract/environments.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
  'server/src/router/traces.ts': { input: 'the traceparent header of a routed request (tested for its fixed length 55 first; anchored, fixed-width classes)' },
  'sdk/src/contract/actions.ts': { input: 'request fields (zod .regex; the string is bounded by .max first)' },
}

/**
 * The one place a pattern is built at run time, and why it may be: assert.match compiles the caller's
 * pattern with V8's linear-time engine (flag `l`), which never backtracks and refuses what needs to
 * (backreferences, lookaround), so no pattern can make it superlinear.
 */
export const dynamicRegexSites: Readonly<Record<string, string>> = {
  'server/src/actions/linear-regex.ts': "assert.match: the caller's pattern, on V8's linear-time engine only",
}
