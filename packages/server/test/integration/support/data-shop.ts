/** The source database of the data tests: foreign keys, a 1:N chain, self-references, PII columns, a view. */
import type { TestPg } from './data-pg.js'

export const SHOP_PASSWORD = 'shop-owner-pw'
export const READER_PASSWORD = 'reader-pw'

/** Values that must never appear in a mirror: every one is unique to the source. */
export function piiValues(n: number): string[] {
  const out: string[] = []
  for (let i = 1; i <= n; i++) out.push(`zqx${i}.person@corp-mail.test`, `Xavorin${i}q`, `Quendrel${i}z`, `+44 7700 9${String(i).padStart(5, '0')}`)
  return out
}

/**
 * customers (self-reference: referred_by) ← orders ← order_items (a 1:N:N chain), employees (a deep
 * self-referencing manager chain), tags with a composite key referenced by a composite FK.
 */
export async function createShop(src: TestPg, customers = 400): Promise<void> {
  await src.sql('postgres', `CREATE ROLE shop LOGIN PASSWORD '${SHOP_PASSWORD}'`)
  await src.sql('postgres', `CREATE ROLE reader LOGIN PASSWORD '${READER_PASSWORD}'`)
  await src.sql('postgres', 'CREATE DATABASE shop OWNER shop')
  await src.sql(
    'shop',
    `
    SET ROLE shop;
    CREATE EXTENSION IF NOT EXISTS pgcrypto;
    CREATE TYPE order_state AS ENUM ('new', 'paid', 'shipped');
    CREATE TABLE customers (
      id serial PRIMARY KEY,
      email text NOT NULL UNIQUE,
      first_name text NOT NULL,
      last_name text NOT NULL,
      phone varchar(32),
      referred_by int REFERENCES customers (id),
      created_at timestamptz NOT NULL DEFAULT '2024-01-01'
    );
    CREATE TABLE orders (
      id bigserial PRIMARY KEY,
      customer_id int NOT NULL REFERENCES customers (id),
      state order_state NOT NULL DEFAULT 'new',
      total numeric(10, 2) NOT NULL,
      note text
    );
    CREATE INDEX orders_customer ON orders (customer_id);
    CREATE TABLE order_items (
      id bigserial PRIMARY KEY,
      order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
      sku text NOT NULL,
      qty int NOT NULL CHECK (qty > 0),
      line_total numeric(12, 2) GENERATED ALWAYS AS (qty * 9.99) STORED
    );
    CREATE TABLE employees (id int PRIMARY KEY, name text NOT NULL, manager_id int REFERENCES employees (id));
    CREATE TABLE tags (ns text NOT NULL, tag text NOT NULL, label text, PRIMARY KEY (ns, tag));
    CREATE TABLE order_tags (order_id bigint NOT NULL REFERENCES orders (id), ns text NOT NULL, tag text NOT NULL, FOREIGN KEY (ns, tag) REFERENCES tags (ns, tag));
    CREATE VIEW customer_totals AS SELECT c.id, count(o.id) AS orders, coalesce(sum(o.total), 0) AS total FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.id;
    CREATE FUNCTION order_count(cid int) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM orders WHERE customer_id = cid $$;
    COMMENT ON TABLE customers IS 'people who buy';

    INSERT INTO customers (email, first_name, last_name, phone, referred_by)
      SELECT 'zqx' || g || '.person@corp-mail.test', 'Xavorin' || g || 'q', 'Quendrel' || g || 'z', '+44 7700 9' || lpad(g::text, 5, '0'),
             CASE WHEN g > 1 THEN g - 1 END
        FROM generate_series(1, ${customers}) g;
    INSERT INTO orders (customer_id, state, total, note)
      SELECT 1 + (g * 7919) % ${customers}, (ARRAY['new','paid','shipped']::order_state[])[1 + g % 3], (g % 500) + 0.99, 'order note ' || g
        FROM generate_series(1, ${customers * 3}) g;
    INSERT INTO order_items (order_id, sku, qty)
      SELECT 1 + (g * 104729) % ${customers * 3}, 'SKU-' || (g % 97), 1 + g % 5 FROM generate_series(1, ${customers * 8}) g;
    INSERT INTO employees (id, name, manager_id) SELECT g, 'Emp ' || g, CASE WHEN g > 1 THEN g - 1 END FROM generate_series(1, 300) g;
    INSERT INTO tags SELECT 'ns' || (g % 3), 'tag' || g, 'Tag ' || g FROM generate_series(1, 60) g;
    INSERT INTO order_tags SELECT 1 + (g * 31) % ${customers * 3}, 'ns' || (g % 3), 'tag' || g FROM generate_series(1, 60) g;
    RESET ROLE;
    GRANT USAGE ON SCHEMA public TO reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader;
    GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO reader;
    ANALYZE;
    `,
  )
}

/** Row counts and content checksums of every table: equal before and after means untouched. */
export async function fingerprint(q: (sql: string) => Promise<{ t: string; n: string; sum: string }[]>): Promise<Record<string, string>> {
  const tables = ['customers', 'orders', 'order_items', 'employees', 'tags', 'order_tags']
  const out: Record<string, string> = {}
  for (const t of tables) {
    const [r] = await q(`SELECT '${t}' AS t, count(*)::text AS n, coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS sum FROM ${t} x`)
    out[t] = `${r!.n}:${r!.sum}`
  }
  return out
}
