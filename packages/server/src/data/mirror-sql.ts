/** @module data/mirror-sql — SQL a mirror build runs on its own server. */
import { OWNER_ROLE } from './pg-server.js'
import { qualified, quoteIdent, quoteLiteral } from './pg-admin.js'

const userNs = `n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'`
const notExt = (cls: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${cls}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`

/**
 * Hands every object of the mirror's database to the owner role (clone roles are its members, so they
 * can alter and drop what they find, like the application's own role would). Extension members stay.
 */
export function reassignOwnershipSql(database: string): string {
  const o = quoteIdent(OWNER_ROLE)
  return `
DO $tidepool$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname FROM pg_namespace n WHERE ${userNs} AND ${notExt('pg_namespace', 'n.oid')} LOOP
    EXECUTE format('ALTER SCHEMA %I OWNER TO ${o}', r.nspname);
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS rel, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND ${userNs} AND ${notExt('pg_class', 'c.oid')}
              AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i'))) LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${o}',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.rel);
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS fn, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE ${userNs} AND ${notExt('pg_proc', 'p.oid')} LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${o}', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END, r.fn);
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS typ, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE ${userNs} AND ${notExt('pg_type', 't.oid')} AND t.typtype IN ('d', 'e', 'r', 'c')
              AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${o}', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.typ);
  END LOOP;
END
$tidepool$;
ALTER DATABASE ${quoteIdent(database)} OWNER TO ${o};
`
}

export function setSequencesSql(seqs: { schema: string; name: string; lastValue: string }[]): string {
  return seqs.map((s) => `SELECT setval(${quoteLiteral(qualified(s.schema, s.name))}, ${s.lastValue}, true);`).join('\n')
}
