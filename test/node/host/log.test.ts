import assert from 'node:assert/strict'
import { Logger, type LoggerOptions } from '../../../node/host/log.ts'

function logger(options: Partial<LoggerOptions> = {}) {
  const lines: string[] = []
  let now = Date.UTC(2026, 11, 4, 12, 0, 0)
  const log = new Logger({ role: 'relay', write: l => lines.push(l), now: () => now++, ...options })
  return { log, lines }
}

describe('node: the operator log', () => {
  it('writes human-readable lines with fields, and JSON lines on request', () => {
    const text = logger()
    text.log.info('tunnel opened', { peer: '12D3KooW', target: 'example.com:443', note: 'two words' })
    assert.equal(
      text.lines[0],
      '2026-12-04T12:00:00.000Z INFO  relay: tunnel opened [peer=12D3KooW target=example.com:443 note="two words"]',
    )
    const json = logger({ format: 'json' })
    json.log.warn('quota exhausted', { used: 5 })
    assert.deepEqual(JSON.parse(json.lines[0] as string), {
      time: '2026-12-04T12:00:00.000Z',
      level: 'warn',
      role: 'relay',
      msg: 'quota exhausted',
      used: 5,
    })
  })

  it('filters by level, and the level can change while running', () => {
    const { log, lines } = logger({ level: 'warn' })
    log.info('hidden')
    log.debug('hidden')
    log.error('shown')
    log.level = 'debug'
    log.debug('shown too')
    assert.deepEqual(
      lines.map(l => l.replace(/^\S+ /, '')),
      ['ERROR relay: shown', 'DEBUG relay: shown too'],
    )
  })

  it('logs a problem once with its remedy until it changes or clears', () => {
    const { log, lines } = logger({ format: 'json' })
    const remedy = 'forward TCP port 4001 to this machine, or enable UPnP on the router'
    for (let i = 0; i < 5; i++) log.problem('reachability', 'no dialable address', remedy)
    log.resolved('reachability', 'reachable again')
    log.resolved('reachability', 'reachable again')
    log.problem('reachability', 'no dialable address', remedy)
    const seen = lines.map(l => JSON.parse(l) as { level: string; msg: string; remedy?: string })
    assert.deepEqual(
      seen.map(e => [e.level, e.msg, e.remedy]),
      [
        ['warn', 'no dialable address', remedy],
        ['info', 'reachable again', undefined],
        ['warn', 'no dialable address', remedy],
      ],
    )
  })

  it('logs a problem at error level when asked, and text lines carry the remedy', () => {
    const { log, lines } = logger()
    log.problem('claim', 'claim failed: no proof', 'check --ledger', { account: '0xab' }, 'error')
    log.problem('claim', 'claim failed: no proof', 'check --ledger', { account: '0xab' }, 'error')
    assert.deepEqual(lines, [
      '2026-12-04T12:00:00.000Z ERROR relay: claim failed: no proof (what to do: check --ledger) [account=0xab]',
    ])
    assert.equal(log.recent().at(-1)?.level, 'error')
  })

  it('keeps the latest warnings and errors for the dashboard, even below the level', () => {
    const { log } = logger({ level: 'error' })
    for (let i = 0; i < 60; i++) log.warn(`warning ${i}`)
    log.info('not a problem')
    const recent = log.recent()
    assert.equal(recent.length, 50)
    assert.equal(recent[0]?.msg, 'warning 10')
    assert.equal(recent.at(-1)?.msg, 'warning 59')
  })
})
