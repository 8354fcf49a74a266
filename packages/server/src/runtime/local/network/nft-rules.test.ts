import { describe, expect, it } from 'vitest'
import { renderDelete, renderEgressPorts, renderTable } from './nft-rules.js'

describe('nft rules', () => {
  const table = renderTable({ gateway: '10.200.0.1', range: '10.200.0.0/16' })
  const fromSandbox = table.slice(table.lastIndexOf('chain from_sandbox {'))

  it('accepts from a sandbox only TCP to the gateway on the egress set, after the source checks', () => {
    const rules = fromSandbox
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('chain') && l !== '}')
    expect(rules).toEqual([
      'meta nfproto ipv6 drop',
      'ip saddr != 10.200.0.0/16 drop',
      'fib saddr . iif oif missing drop',
      'ct state established,related accept',
      'ct state new ip daddr 10.200.0.1 tcp dport @egress_ports accept',
      'meta l4proto tcp reject with tcp reset',
      'drop',
    ])
  })

  it('is idempotent: declares, flushes and refills its chains without touching the egress set', () => {
    expect(table).toMatch(/^table inet tidepool \{/)
    for (const chain of ['input', 'forward', 'from_sandbox']) expect(table).toContain(`flush chain inet tidepool ${chain}\n`)
    expect(table).not.toContain('flush set')
    expect(table).not.toContain('delete')
    expect(table).toContain('iifname "tp*" jump from_sandbox')
    expect(table).toMatch(/chain forward \{\n\s+iifname "tp\*" drop\n\s+oifname "tp\*" drop/)
  })

  it('replaces the egress set in one transaction, and deletes the table even when it is missing', () => {
    expect(renderEgressPorts([3128, 1080])).toBe('flush set inet tidepool egress_ports\nadd element inet tidepool egress_ports { 3128, 1080 }\n')
    expect(renderEgressPorts([])).toBe('flush set inet tidepool egress_ports\n')
    expect(renderDelete()).toBe('table inet tidepool\ndelete table inet tidepool\n')
  })
})
