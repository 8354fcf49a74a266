/**
 * The act side of the feedback loop, for real: a LocalRuntime sandbox OOM-killed by a memory hog gives
 * its run cgroup figures (memory-starved, without the CI saying so); the resize it calls for is read back
 * from the cgroup files, goes back down when the next run in the sandbox ends, and a rejected resize
 * really reverts them. A clone bound to a sandbox (real PostgreSQL) is reset by reset_state, its rows
 * checked inside the sandbox, and the rollback brings the pre-reset rows back.
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient, type Client } from '@tidepool/sdk'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/core/log.js'
import { buildControlPlane, type ControlPlane } from '../../src/main.js'
import { dataSkip, startTestPg, type TestPg } from './support/data-pg.js'
import { createShop, READER_PASSWORD } from './support/data-shop.js'
import { destroyAll, leftovers, skipReason } from './support/host.js'

const skip = skipReason ?? dataSkip
const cgroupName = `tidepool-it-act-${process.pid}`
const MiB = 1048576

/** The memory limit the sandbox's cgroup holds, read from the file (v1 memory.limit_in_bytes, or v2 memory.max). */
function cgroupMemoryLimit(id: string): number {
  for (const [root, file] of [
    ['/sys/fs/cgroup/memory', 'memory.limit_in_bytes'],
    ['/sys/fs/cgroup', 'memory.max'],
  ] as const) {
    const dir = join(root, cgroupName)
    if (!existsSync(dir)) continue
    for (const instance of readdirSync(dir)) {
      const f = join(dir, instance, id, file)
      if (existsSync(f)) return Number(readFileSync(f, 'utf8').trim())
    }
  }
  throw new Error(`no memory cgroup of ${id} under ${cgroupName}`)
}

const cases = (fail?: string, name = 'db') =>
  `<testsuite name="s">${Array.from({ length: 20 }, (_, i) => `<testcase classname="s" name="ok ${i}" time="0.1"/>`).join('')}<testcase classname="s" name="${name}" time="0.1">${
    fail ? `<failure message="${fail}">${fail}</failure>` : ''
  }</testcase></testsuite>`

describe.skipIf(Boolean(skip))(`remediations act on real sandboxes and clones${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let src: TestPg
  let home: string
  let cp: ControlPlane
  let api: Client
  const ids: string[] = []

  beforeAll(async () => {
    src = await startTestPg('act')
    await createShop(src, 30)
    home = mkdtempSync(join(tmpdir(), 'tidepool-it-act-'))
    chmodSync(home, 0o755) // the managed PostgreSQL servers run as the postgres user and must reach data.dir
    const config = loadConfig({
      env: {},
      overrides: { home, port: 0, logLevel: 'silent', runtime: { kind: 'local', cgroupName }, data: { dir: join(home, 'data'), socketDir: join(home, 's') } },
    })
    cp = await buildControlPlane(config, { logger: silentLogger, reaper: false })
    api = createClient({ baseUrl: (await cp.listen()).url, token: cp.adminToken! })
    await api.putInsightsSettings({ mode: 'auto', quarantineOwner: 'team' })
  })
  afterAll(async () => {
    await cp?.close()
    await destroyAll(join(home, 'runtime'), cgroupName)
    await src?.stop()
    if (home && !readFileSync('/proc/mounts', 'utf8').includes(home)) rmSync(home, { recursive: true, force: true })
  })

  const run = async (id: string, commit: string, sandboxId: string, fail?: string) => {
    await api.createRun({ id, commit, branch: 'main', attempt: 1, infra: { sandboxId } })
    await api.ingestJunit({ id, body: cases(fail), name: 'report.xml' } as never)
    return api.finishRun({ id })
  }

  it('an OOM-killed run is memory-starved from the cgroup; the resize is read back, lowered after the next run, and a rejected one reverted', async () => {
    const sbx = await api.createSandbox({ resources: { cpu: 0.5, memoryMb: 64, pids: 64 } })
    ids.push(sbx.id)
    expect(cgroupMemoryLimit(sbx.id)).toBe(64 * MiB)
    const hog = await api.exec({ id: sbx.id, cmd: 'python3 -c "x = bytearray(512 * 1024 * 1024); print(len(x))"' })
    expect(hog.exitCode).toBe(137)
    // The CI reports no infra figures at all: they come from the sandbox's cgroup.
    const red = await run('act-r1', 'c1', sbx.id, 'Killed')
    expect(red.run.infra).toMatchObject({ sandboxId: sbx.id, memoryLimitBytes: 64 * MiB, figuresFrom: `${sbx.id} (live)` })
    expect(red.run.infra?.oomKills).toBeGreaterThanOrEqual(1)
    const triage = await api.getRunTriage({ id: 'act-r1' })
    expect(triage.failures[0]!.evidence.map((e) => e.detail).join('\n')).toMatch(/memory-starved: \d+ process\(es\) OOM-killed/)
    const resize = red.remediations.find((r) => r.kind === 'resize')!
    expect(resize).toMatchObject({ status: 'applied', result: { effect: { memoryMb: { from: 64, to: 128 }, check: { ok: true } } } })
    expect(cgroupMemoryLimit(sbx.id)).toBe(128 * MiB)

    // The next run in the sandbox ends: back down to 64 MiB, in the cgroup file.
    await run('act-r2', 'c2', sbx.id)
    expect(cgroupMemoryLimit(sbx.id)).toBe(64 * MiB)
    const restored = (await api.listRemediations({ kind: 'resize' })).items.find((r) => r.id === resize.id)!
    expect(restored).toMatchObject({ status: 'applied', result: { restored: { afterRun: 'act-r2', ok: true } } })

    // Starved again; this time a person rejects the applied resize: the cgroup goes back, checked.
    expect((await api.exec({ id: sbx.id, cmd: 'python3 -c "x = bytearray(512 * 1024 * 1024)"' })).exitCode).toBe(137)
    const again = (await run('act-r3', 'c3', sbx.id, 'Killed')).remediations.find((r) => r.kind === 'resize')!
    expect(cgroupMemoryLimit(sbx.id)).toBe(128 * MiB)
    const reverted = await api.rejectRemediation({ id: again.id, note: 'not memory' })
    expect(reverted).toMatchObject({ status: 'reverted', result: { revert: { effect: { check: { ok: true } } } } })
    expect(cgroupMemoryLimit(sbx.id)).toBe(64 * MiB)
    const rollbacks = await api.listAudit({ action: 'insights.remediation.rollback' })
    expect(rollbacks.items.map((a) => [a.target, a.outcome])).toEqual([[again.id, 'ok']])

    // Destroyed: the final figures are kept, and a run finishing afterwards still gets them.
    await api.createRun({ id: 'act-r4', commit: 'c4', branch: 'main', attempt: 1, infra: { sandboxId: sbx.id } })
    await api.deleteSandbox({ id: sbx.id })
    const late = await api.finishRun({ id: 'act-r4' })
    expect(late.run.infra).toMatchObject({ memoryLimitBytes: 64 * MiB, figuresFrom: sbx.id })
    expect(late.run.infra?.oomKills).toBeGreaterThanOrEqual(2)
    expect(leftovers(cgroupName, [sbx.id])).toEqual([])
  })

  it('reset_state resets the clone bound to the sandbox (rows checked inside it); the rollback brings the rows from before back', async () => {
    const source = await api.createDataSource({ url: src.url('reader', READER_PASSWORD, 'shop') })
    const mirror = await api.createMirror({ id: source.id, wait: true })
    const sbx = await api.createSandbox({})
    ids.push(sbx.id)
    await api.createClone({ mirror: mirror.id, sandbox: sbx.id })
    const count = async () => (await api.exec({ id: sbx.id, cmd: 'psql -tAc "select count(*) from customers"' })).stdout.trim()
    expect(await count()).toBe('30')
    // Leftover state of an earlier test: a row that makes the next insert collide.
    expect((await api.exec({ id: sbx.id, cmd: `psql -tAc "insert into customers (email, first_name, last_name) values ('left@over.test', 'l', 'o')"` })).exitCode).toBe(0)
    expect(await count()).toBe('31')
    const red = await run('act-db1', 'd1', sbx.id, 'duplicate key value violates unique constraint "customers_email_key"')
    const reset = red.remediations.find((r) => r.kind === 'reset_state')!
    // requireApproval: a person applies it.
    expect(reset.status).toBe('suggested')
    const applied = await api.applyRemediation({ id: reset.id })
    expect(applied).toMatchObject({ status: 'applied', result: { effect: { check: { ok: true } } } })
    expect(await count()).toBe('30')
    const reverted = await api.rejectRemediation({ id: reset.id })
    expect(reverted.status).toBe('reverted')
    expect(await count()).toBe('31')
    expect((await api.exec({ id: sbx.id, cmd: `psql -tAc "select count(*) from customers where email = 'left@over.test'"` })).stdout.trim()).toBe('1')
    expect((await api.listAudit({ action: 'insights.remediation.rollback' })).items.some((a) => a.target === reset.id && a.outcome === 'ok')).toBe(true)
    await api.deleteSandbox({ id: sbx.id })
    expect(leftovers(cgroupName, ids)).toEqual([])
  })

  it("snapshot on failure: an armed flaky test's next failing run has its sandbox snapshotted, visible on the remediation and in the snapshots", async () => {
    const sbx = await api.createSandbox({})
    ids.push(sbx.id)
    const flaky = async (id: string, commit: string, fail: boolean, attempt = 1, sandboxId?: string) => {
      await api.createRun({ id, commit, branch: 'main', attempt, ...(sandboxId ? { infra: { sandboxId } } : {}) })
      await api.ingestJunit({ id, body: cases(fail ? 'Timeout waiting for element' : undefined, 'flaky ui'), name: 'report.xml' } as never)
      return api.finishRun({ id })
    }
    for (let i = 0; i < 9; i++) {
      await flaky(`snap-${i}`, `s${i}`, i % 4 === 1)
      if (i % 4 === 1) await flaky(`snap-${i}b`, `s${i}`, false, 2)
    }
    // The test turned known-flaky on its second failure: snapshot on its next failure was armed then.
    const arming = (await api.listRemediations({ kind: 'snapshot_on_failure' })).items.find((r) => r.testId && r.status === 'applied')!
    expect(arming).toMatchObject({ result: { effect: { armed: true } } })
    expect((await api.exec({ id: sbx.id, cmd: 'echo evidence > /tmp/failure.txt' })).exitCode).toBe(0)
    await flaky('snap-red2', 's10', true, 1, sbx.id)
    const captured = (await api.listRemediations({ kind: 'snapshot_on_failure' })).items.find((r) => r.id === arming.id)!
    const capture = (captured.result as { captures: { ok: boolean; runId: string; effect: { snapshotId: string } }[] }).captures.at(-1)!
    expect(capture).toMatchObject({ ok: true, runId: 'snap-red2' })
    const snaps = await api.listSnapshots({ sandboxId: sbx.id })
    expect(snaps.items.map((x) => [x.id, x.createdBy, x.labels.reason])).toEqual([[capture.effect.snapshotId, 'system:remediation', 'insights_failure']])
    // The snapshot holds the failed state: a sandbox started from it sees the file.
    const fromSnap = await api.createSandbox({ fromSnapshot: capture.effect.snapshotId })
    ids.push(fromSnap.id)
    expect((await api.exec({ id: fromSnap.id, cmd: 'cat /tmp/failure.txt' })).stdout).toBe('evidence\n')
    // The rollback disarms: the sandbox's next failing exec is not snapshotted any more.
    expect(await api.rejectRemediation({ id: arming.id })).toMatchObject({ status: 'reverted' })
    expect((await api.exec({ id: sbx.id, cmd: 'false' })).snapshotId).toBeUndefined()
    for (const id of [fromSnap.id, sbx.id]) await api.deleteSandbox({ id })
    await api.deleteSnapshot({ id: capture.effect.snapshotId })
    expect(leftovers(cgroupName, ids)).toEqual([])
  })
})
