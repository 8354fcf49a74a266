/**
 * Masking by content against real PostgreSQL: a source whose free-text `note` and JSONB `data` columns hold
 * emails, phone numbers, card numbers, IBANs and the names of the people table. The dry run lists what a
 * build will mask; after mirroring, none of the original values is in the mirror's full pg_dump, the text
 * around them is kept, JSON stays JSON with its keys, and the build's report says what it masked.
 */
import type { Clone, MaskingReport, Mirror } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cloneQuery, dataSkip, pgDump, startTestPg, testData, type TestData, type TestPg, teardownData } from './support/data-pg.js'

const firsts = ['Wendeline', 'Ysolde', 'Bartholomew', 'Philippa', 'Leocadia']
const lasts = ['Thorvaldsen', 'Quackenbush', 'Abernathy', 'Vanterpool', 'Fitzwilliam']
const phones = ['+44 20 7946 0958', '(415) 555-0132', '+1-212-555-0187', '06 12 34 56 78', '+49 30 901820']
const cards = ['4111 1111 1111 1111', '5555-5555-5555-4444', '4012888888881881', '3782 822463 10005', '6011 1111 1111 1117']
const ibans = ['DE89 3704 0044 0532 0130 00', 'GB82 WEST 1234 5698 7654 32', 'FR1420041010050500013M02606', 'NL91 ABNA 0417 1643 00', 'ES9121000418450200051332']
const emailOf = (i: number) => `${firsts[i]}.${lasts[i]}@client-mail.test`.toLowerCase()
const TICKETS = 20
const NEAR_MISS = 'ref 4111 1111 1111 1112 and DE89 3704 0044 0532 0130 01'
const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`

describe.skipIf(Boolean(dataSkip))(`masking by content${dataSkip ? ` (skipped: ${dataSkip})` : ''}`, () => {
  let src: TestPg
  let t: TestData
  let sourceId: string
  let plan: MaskingReport
  let mirror: Mirror
  let clone: Clone
  let dump: string

  beforeAll(async () => {
    src = await startTestPg('pii')
    await src.sql('postgres', `CREATE ROLE app LOGIN PASSWORD 'app-pw'`)
    await src.sql('postgres', 'CREATE DATABASE crm OWNER app')
    const people = firsts.map((f, i) => `(${i + 1}, ${sqlText(f)}, ${sqlText(lasts[i]!)}, ${sqlText(emailOf(i))})`).join(', ')
    const tickets = Array.from({ length: TICKETS }, (_, n) => {
      const i = n % 5
      const note = `Customer ${firsts[i]} ${lasts[i]} called from ${phones[i]}, email ${emailOf(i)}; card ${cards[i]}; refund to ${ibans[i]}. ${NEAR_MISS}. Ticket resolved.`
      const data = {
        contact: { email: emailOf(i), phone: phones[i] },
        payment: { card: cards[i], iban: ibans[i], amount: 12.5 },
        tags: ['vip', `Spoke with ${firsts[i]}`],
        pan: Number(cards[i]!.replace(/\D/g, '')),
      }
      return `(${n + 1}, ${i + 1}, ${sqlText(note)}, ${sqlText(JSON.stringify(data))}, 'open')`
    }).join(', ')
    await src.sql(
      'crm',
      `SET ROLE app;
       CREATE TABLE people (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL);
       CREATE TABLE tickets (id int PRIMARY KEY, person_id int REFERENCES people (id), note text, data jsonb, status varchar(20));
       INSERT INTO people VALUES ${people};
       INSERT INTO tickets VALUES ${tickets};`,
    )
    t = await testData({ storage: { kind: 'auto', imageSizeMb: 1024 } })
    sourceId = (await t.svc.addSource(t.principal, { url: src.url('app', 'app-pw', 'crm') })).id
    const spec = { id: sourceId, sample: { percent: 100, perTable: {}, seed: 1 }, masking: { defaults: true, content: true, rules: [] } }
    plan = await t.svc.planMasking(t.principal, { ...spec, rowsPerTable: 1000 })
    mirror = await t.svc.createMirror(t.principal, { ...spec, wait: true })
    clone = await t.svc.createClone(t.principal, { mirror: mirror.name })
    dump = pgDump(src.bins, { PGHOST: '127.0.0.1', PGPORT: String(clone.port), PGUSER: clone.user, PGPASSWORD: clone.password, PGDATABASE: clone.database }, [])
  })

  afterAll(async () => {
    if (clone) await t.svc.deleteClone(t.principal, clone.id)
    await teardownData(t, src)
  })

  const column = (r: MaskingReport, table: string, col: string) => r.tables.find((x) => x.table === table)!.columns.find((c) => c.column === col)!

  it('the dry run lists, per column, what will be masked by name, by content (per detector) and left as is', () => {
    expect(plan.dryRun).toBe(true)
    expect(plan.nameColumns.sort()).toEqual(['public.people.first_name', 'public.people.last_name'])
    expect(plan.namesLearned).toBe(10)
    expect(column(plan, 'public.people', 'email')).toMatchObject({ masking: 'name', rule: 'email' })
    expect(column(plan, 'public.people', 'first_name')).toMatchObject({ masking: 'name', rule: 'first_name' })
    expect(column(plan, 'public.tickets', 'note')).toMatchObject({
      masking: 'content',
      scanned: TICKETS,
      masked: TICKETS,
      found: { email: TICKETS, phone: TICKETS, card: TICKETS, iban: TICKETS, name: 2 * TICKETS },
    })
    // JSON: the contact, payment and tags strings, and the card written as a number.
    expect(column(plan, 'public.tickets', 'data')).toMatchObject({ masking: 'content', found: { email: TICKETS, phone: TICKETS, card: 2 * TICKETS, iban: TICKETS, name: TICKETS } })
    expect(column(plan, 'public.tickets', 'status')).toMatchObject({ masking: 'none', scanned: TICKETS, reason: 'scanned by content: nothing found' })
    expect(column(plan, 'public.tickets', 'id')).toMatchObject({ masking: 'none', reason: 'not text or JSON' })
    expect(plan.found).toEqual({ email: 2 * TICKETS, phone: 2 * TICKETS, card: 3 * TICKETS, iban: 2 * TICKETS, name: 3 * TICKETS })
  })

  it('the build records the same report, readable afterwards from the mirror', async () => {
    const built = (await t.svc.getMirror(t.principal, mirror.id)).report!.masking!
    expect(built.dryRun).toBe(false)
    expect(built.found).toEqual(plan.found)
    expect(column(built, 'public.tickets', 'note')).toMatchObject({ masking: 'content', scanned: TICKETS, masked: TICKETS })
    expect(built.tables.find((x) => x.table === 'public.tickets')!.rows).toBe(TICKETS)
  })

  it('no original value is in the mirror: not in a full pg_dump', () => {
    expect(dump).toContain('COPY public.tickets')
    const originals = [...firsts, ...lasts, ...phones, ...cards, ...ibans, ...firsts.map((_, i) => emailOf(i))]
    const compact = [...cards, ...ibans].map((v) => v.replace(/[\s-]/g, ''))
    expect([...originals, ...compact].filter((v) => dump.includes(v))).toEqual([])
    expect(dump).not.toContain('client-mail.test')
  })

  it('keeps the text around the masked spans, and what only looks like a card or an IBAN', async () => {
    const rows = await cloneQuery<{ note: string; status: string }>(clone, 'SELECT note, status FROM tickets ORDER BY id')
    expect(rows).toHaveLength(TICKETS)
    for (const r of rows) {
      expect(r.note).toMatch(/^Customer \S+ \S+ called from .+, email \S+@example\.com; card [\d -]+; refund to [A-Z0-9 ]+\. /)
      expect(r.note).toContain(`${NEAR_MISS}. Ticket resolved.`)
      expect(r.status).toBe('open')
    }
  })

  it('keeps JSON valid with its keys and non-personal values; masked values keep their kind', async () => {
    const rows = await cloneQuery<{ data: { contact: { email: string; phone: string }; payment: { card: string; iban: string; amount: number }; tags: string[]; pan: number } }>(
      clone,
      'SELECT data FROM tickets ORDER BY id',
    )
    for (const { data } of rows) {
      expect(Object.keys(data).sort()).toEqual(['contact', 'pan', 'payment', 'tags'])
      expect(data.contact.email).toMatch(/@example\.com$/)
      expect(data.payment.amount).toBe(12.5)
      expect(data.tags[0]).toBe('vip')
      expect(data.tags[1]).toMatch(/^Spoke with \S+$/)
      expect(data.payment.card.replace(/\d/g, '9')).toMatch(/^[9 -]+$/)
    }
  })
})
