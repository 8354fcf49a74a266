/**
 * @module gate/classify — static analysis of a SQL artifact with PostgreSQL's own parser (libpg-query,
 * compiled to wasm): read-only / write / DDL, destructive statements, statements that hold heavy locks,
 * statements that cannot run in a transaction. No regular expression ever sees the SQL.
 */
import { loadModule, parseSync } from 'libpg-query'
import { AppError } from '../core/errors.js'

export interface StatementClass {
  index: number
  kind: string
  category: 'read' | 'write' | 'ddl' | 'other'
  destructive: string[]
  heavyLocks: string[]
  transactional: boolean
  tables: string[]
  /** Lock modes the statement takes by PostgreSQL's rules, per table (the rehearsal also observes them). */
  impliedLocks: { table: string; mode: string }[]
  /** Columns a DROP COLUMN removes, as table.column (the rehearsal counts their data first). */
  droppedColumns: string[]
  /** The statement's text, sliced from the artifact by the parser's locations. */
  sql: string
}

export interface Classification {
  category: 'read-only' | 'write' | 'ddl'
  destructive: boolean
  heavyLocks: boolean
  transactional: boolean
  statements: StatementClass[]
}

type Node = Record<string, unknown>

let loaded: Promise<void> | undefined
/** Loads the parser's wasm once per process (a few ms); classify() needs it loaded. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule()
  return loaded
}

/** Settings an artifact may not change: they are the production settings the gate applies itself. */
const reservedSettings = new Set([
  'role',
  'session_authorization',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'default_transaction_read_only',
  'transaction_read_only',
])

/** Functions whose value differs per row: a column added with one as its default rewrites the table under an ACCESS EXCLUSIVE lock. */
const volatileFunctions = new Set([
  'random',
  'gen_random_uuid',
  'uuid_generate_v4',
  'clock_timestamp',
  'timeofday',
  'nextval',
  'txid_current',
  'statement_timestamp',
  'setseed',
  'uuid_generate_v1',
  'uuidv4',
  'uuidv7',
])

/** ALTER TABLE subcommands that rewrite or scan the whole table while holding its lock. */
const rewritingSubtypes: Record<string, string> = {
  AT_AlterColumnType: 'ALTER COLUMN … TYPE rewrites the table under ACCESS EXCLUSIVE',
  AT_SetNotNull: 'SET NOT NULL scans the whole table under ACCESS EXCLUSIVE',
  AT_SetTableSpace: 'SET TABLESPACE copies the table under ACCESS EXCLUSIVE',
  AT_AddIdentity: 'ADD … IDENTITY holds ACCESS EXCLUSIVE',
  AT_SetLogged: 'SET LOGGED rewrites the table under ACCESS EXCLUSIVE',
  AT_SetUnLogged: 'SET UNLOGGED rewrites the table under ACCESS EXCLUSIVE',
}

/** Parses and classifies; invalid_request naming the parser's message and position when the SQL does not parse. */
export function classify(sql: string, what = 'artifact'): Classification {
  let tree: { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] }
  try {
    tree = parseSync(sql) as typeof tree
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } }
    const at = e.sqlDetails?.cursorPosition
    throw new AppError('invalid_request', `${what}: SQL does not parse: ${e.message}${at !== undefined ? ` (at character ${at + 1})` : ''}`, [{ path: what, message: e.message }])
  }
  const stmts = tree.stmts ?? []
  if (stmts.length === 0) throw new AppError('invalid_request', `${what}: holds no SQL statement`, [{ path: what, message: 'no statement' }])
  const bytes = Buffer.from(sql, 'utf8')
  const statements = stmts.map((s, index) => {
    // Locations are byte offsets into the UTF-8 text.
    const start = s.stmt_location ?? 0
    const text = bytes
      .subarray(start, s.stmt_len ? start + s.stmt_len : bytes.length)
      .toString('utf8')
      .trim()
    return classifyStatement(s.stmt, index, text, what)
  })
  const has = (c: StatementClass['category']) => statements.some((s) => s.category === c)
  return {
    category: has('ddl') ? 'ddl' : has('write') ? 'write' : 'read-only',
    destructive: statements.some((s) => s.destructive.length > 0),
    heavyLocks: statements.some((s) => s.heavyLocks.length > 0),
    transactional: statements.every((s) => s.transactional),
    statements,
  }
}

function classifyStatement(stmt: Node, index: number, sql: string, what: string): StatementClass {
  const kind = Object.keys(stmt)[0] ?? 'Unknown'
  const n = (stmt[kind] ?? {}) as Node
  const c: StatementClass = { index, kind, category: 'other', destructive: [], heavyLocks: [], transactional: true, tables: [], impliedLocks: [], droppedColumns: [], sql }
  const lock = (table: string, mode: string) => {
    if (!c.tables.includes(table)) c.tables.push(table)
    c.impliedLocks.push({ table, mode })
  }
  const readTables = (node: unknown) => {
    for (const t of rangeVars(node)) lock(t, 'AccessShareLock')
  }
  switch (kind) {
    case 'SelectStmt': {
      c.category = n.intoClause ? 'ddl' : 'read'
      readTables(n)
      if (n.lockingClause) c.category = 'write' // SELECT … FOR UPDATE takes row locks: not read-only
      break
    }
    case 'ExplainStmt': {
      const analyze = ((n.options as Node[] | undefined) ?? []).some((o) => (o.DefElem as Node | undefined)?.defname === 'analyze')
      const inner = classifyStatement(n.query as Node, index, sql, what)
      if (analyze) return { ...inner, kind }
      c.category = 'read'
      break
    }
    case 'VariableShowStmt':
      c.category = 'read'
      break
    case 'VariableSetStmt': {
      const name = String(n.name ?? '').toLowerCase()
      if (reservedSettings.has(name) || n.kind === 'VAR_RESET_ALL')
        throw new AppError('invalid_request', `${what}: statement ${index + 1} sets ${name || 'every setting'}; the gate sets role, timeouts and read-only itself (the target's settings)`, [
          { path: what, message: `SET ${name} not allowed` },
        ])
      c.category = 'other'
      break
    }
    case 'TransactionStmt':
      throw new AppError(
        'invalid_request',
        `${what}: statement ${index + 1} is transaction control (${String(n.kind)}); the gate runs the whole artifact in one transaction itself, leave out BEGIN/COMMIT`,
        [{ path: what, message: 'transaction control not allowed' }],
      )
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      c.category = 'write'
      const table = rangeVarName(n.relation)
      if (table) lock(table, 'RowExclusiveLock')
      readTables({ ...n, relation: undefined })
      if ((kind === 'UpdateStmt' || kind === 'DeleteStmt') && !n.whereClause && table) c.destructive.push(`${kind === 'UpdateStmt' ? 'UPDATE' : 'DELETE'} without WHERE on ${table} changes every row`)
      break
    }
    case 'CopyStmt': {
      c.category = n.is_from ? 'write' : 'read'
      const table = rangeVarName(n.relation)
      if (table) lock(table, n.is_from ? 'RowExclusiveLock' : 'AccessShareLock')
      break
    }
    case 'TruncateStmt': {
      c.category = 'write'
      for (const t of rangeVars(n.relations)) {
        lock(t, 'AccessExclusiveLock')
        c.destructive.push(`TRUNCATE ${t} deletes every row`)
        c.heavyLocks.push(`TRUNCATE ${t} holds ACCESS EXCLUSIVE`)
      }
      break
    }
    case 'DropStmt': {
      c.category = 'ddl'
      const type = String(n.removeType ?? '')
      const names = ((n.objects as unknown[] | undefined) ?? []).map(objectName)
      const noun = type
        .replace(/^OBJECT_/, '')
        .toLowerCase()
        .replace(/_/g, ' ')
      if (n.concurrent) c.transactional = false
      if (['OBJECT_TABLE', 'OBJECT_SCHEMA', 'OBJECT_MATVIEW', 'OBJECT_SEQUENCE', 'OBJECT_TYPE', 'OBJECT_DOMAIN', 'OBJECT_EXTENSION'].includes(type) || n.behavior === 'DROP_CASCADE')
        for (const name of names) c.destructive.push(`DROP ${noun.toUpperCase()} ${name}${n.behavior === 'DROP_CASCADE' ? ' CASCADE' : ''} removes it and its data`)
      if (type === 'OBJECT_TABLE' || type === 'OBJECT_MATVIEW') for (const name of names) lock(name, 'AccessExclusiveLock')
      if (type === 'OBJECT_INDEX' && !n.concurrent) for (const name of names) c.heavyLocks.push(`DROP INDEX ${name} without CONCURRENTLY holds ACCESS EXCLUSIVE on its table`)
      break
    }
    case 'AlterTableStmt': {
      c.category = 'ddl'
      const table = rangeVarName(n.relation) ?? '?'
      let mode = 'ShareUpdateExclusiveLock'
      for (const wrapped of (n.cmds as Node[] | undefined) ?? []) {
        const cmd = (wrapped.AlterTableCmd ?? {}) as Node
        const subtype = String(cmd.subtype ?? '')
        const m = alterLockMode(subtype, cmd)
        if (lockRank(m) > lockRank(mode)) mode = m
        if (subtype === 'AT_DropColumn') {
          c.destructive.push(`DROP COLUMN ${table}.${String(cmd.name)} removes the column and its data`)
          c.droppedColumns.push(`${table}.${String(cmd.name)}`)
        }
        if (subtype === 'AT_AddColumn') {
          const def = ((cmd.def as Node | undefined)?.ColumnDef ?? {}) as Node
          const dflt = ((def.constraints as Node[] | undefined) ?? []).map((x) => x.Constraint as Node | undefined).find((x) => x?.contype === 'CONSTR_DEFAULT')
          const fn = dflt && volatileCall(dflt.raw_expr)
          if (fn) c.heavyLocks.push(`ADD COLUMN ${table}.${String(def.colname)} with the volatile default ${fn}() rewrites the table under ACCESS EXCLUSIVE`)
        }
        if (subtype === 'AT_AddConstraint') {
          const con = ((cmd.def as Node | undefined)?.Constraint ?? {}) as Node
          if ((con.contype === 'CONSTR_CHECK' || con.contype === 'CONSTR_FOREIGN') && !con.skip_validation)
            c.heavyLocks.push(`ADD CONSTRAINT on ${table} without NOT VALID scans the whole table while holding its lock`)
          if (con.contype === 'CONSTR_PRIMARY' || con.contype === 'CONSTR_UNIQUE')
            c.heavyLocks.push(`ADD ${con.contype === 'CONSTR_PRIMARY' ? 'PRIMARY KEY' : 'UNIQUE'} on ${table} builds an index under ACCESS EXCLUSIVE`)
        }
        const rewrite = rewritingSubtypes[subtype]
        if (rewrite) c.heavyLocks.push(`${table}: ${rewrite}`)
      }
      lock(table, mode)
      break
    }
    case 'IndexStmt': {
      c.category = 'ddl'
      const table = rangeVarName(n.relation) ?? '?'
      if (n.concurrent) {
        c.transactional = false
        lock(table, 'ShareUpdateExclusiveLock')
      } else {
        lock(table, 'ShareLock')
        c.heavyLocks.push(`CREATE INDEX on ${table} without CONCURRENTLY blocks writes to it while the index builds`)
      }
      break
    }
    case 'ReindexStmt':
    case 'VacuumStmt':
    case 'ClusterStmt':
      c.category = kind === 'VacuumStmt' ? 'other' : 'ddl'
      if (kind === 'VacuumStmt' || (n.params as Node[] | undefined)?.some((p) => (p.DefElem as Node | undefined)?.defname === 'concurrently')) c.transactional = false
      if (kind !== 'VacuumStmt') c.heavyLocks.push(`${kind === 'ClusterStmt' ? 'CLUSTER' : 'REINDEX'} holds ACCESS EXCLUSIVE (or SHARE) for its whole run`)
      readTables(n)
      break
    case 'CreatedbStmt':
    case 'DropdbStmt':
    case 'AlterSystemStmt':
    case 'CreateTableSpaceStmt':
    case 'DropTableSpaceStmt':
      c.category = 'ddl'
      c.transactional = false
      if (kind === 'DropdbStmt') c.destructive.push(`DROP DATABASE ${String(n.dbname)} removes a whole database`)
      break
    case 'DoStmt':
    case 'CallStmt':
      // Procedural code: its effects are known only by running it (the rehearsal observes them).
      c.category = 'write'
      break
    default:
      // CREATE/ALTER/COMMENT/GRANT/RENAME … of objects: schema changes that destroy no rows.
      c.category = 'ddl'
      readTables(n)
  }
  return c
}

/** The lock ALTER TABLE takes for one subcommand (PostgreSQL's AlterTableGetLockLevel, the common ones). */
function alterLockMode(subtype: string, cmd: Node): string {
  if (subtype === 'AT_AddConstraint') {
    const con = ((cmd.def as Node | undefined)?.Constraint ?? {}) as Node
    if (con.contype === 'CONSTR_FOREIGN') return 'ShareRowExclusiveLock'
  }
  if (['AT_SetStatistics', 'AT_ClusterOn', 'AT_DropCluster', 'AT_SetRelOptions', 'AT_ResetRelOptions', 'AT_ValidateConstraint'].includes(subtype)) return 'ShareUpdateExclusiveLock'
  return 'AccessExclusiveLock'
}

const lockModes = ['AccessShareLock', 'RowShareLock', 'RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock']
export const lockRank = (mode: string): number => lockModes.indexOf(mode)

/** The name of a volatile function called at the top of a default expression (through casts), if any. */
function volatileCall(expr: unknown): string | undefined {
  let e = expr as Node | undefined
  while (e && 'TypeCast' in e) e = (e.TypeCast as Node).arg as Node | undefined
  const call = e?.FuncCall as Node | undefined
  if (!call) return undefined
  const parts = ((call.funcname as Node[] | undefined) ?? []).map((p) => String((p.String as Node | undefined)?.sval ?? ''))
  const name = parts[parts.length - 1] ?? ''
  return volatileFunctions.has(name.toLowerCase()) ? name : undefined
}

function rangeVarName(v: unknown): string | undefined {
  const r = ((v as Node | undefined)?.RangeVar ?? v) as Node | undefined
  if (!r || typeof r.relname !== 'string') return undefined
  return `${typeof r.schemaname === 'string' ? r.schemaname : 'public'}.${r.relname}`
}

/** Every RangeVar under a node (tables it names), depth-first, each once. Iterative: a deep tree cannot overflow the stack. */
function rangeVars(root: unknown): string[] {
  const out = new Set<string>()
  const ctes = new Set<string>()
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (Array.isArray(v)) stack.push(...v)
    else if (v && typeof v === 'object') {
      const o = v as Node
      if (o.CommonTableExpr) ctes.add(String((o.CommonTableExpr as Node).ctename))
      if (o.RangeVar) {
        const r = o.RangeVar as Node
        const name = rangeVarName(r)
        if (name && !(r.schemaname === undefined && ctes.has(String(r.relname)))) out.add(name)
        continue
      }
      for (const k of Object.keys(o)) stack.push(o[k])
    }
  }
  return [...out]
}

/** A DROP's object as text: a list of String nodes joined by dots (schema.table), public when unqualified. */
function objectName(o: unknown): string {
  const items = ((o as Node).List as Node | undefined)?.items as Node[] | undefined
  const parts = (items ?? [o as Node]).map((p) => String((p.String as Node | undefined)?.sval ?? '?'))
  return parts.length === 1 ? `public.${parts[0]}` : parts.join('.')
}
