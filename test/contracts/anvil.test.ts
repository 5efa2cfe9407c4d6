import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import { startAnvil } from '../../contracts/anvil.ts'

async function chainId(rpcUrl: string): Promise<string> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
  })
  return ((await response.json()) as { result: string }).result
}

describe('contracts: anvil launcher', () => {
  it('runs chains side by side on OS-chosen ports and stops them for good', async () => {
    const [a, b] = await Promise.all([
      startAnvil({ accounts: 2 }),
      startAnvil({ accounts: 2, chainId: 1337 }),
    ])
    try {
      assert.notEqual(a.rpcUrl, b.rpcUrl)
      assert.match(a.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal(await chainId(a.rpcUrl), '0x7a69')
      assert.equal(await chainId(b.rpcUrl), '0x539')
      // Anvil's well-known first development account.
      assert.equal(a.accounts[0], '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266')
      assert.equal(a.privateKeys[0], '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80')
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
    await assert.rejects(chainId(a.rpcUrl), /fetch failed/)
    await a.stop()
  })

  it('runs Anvil, launcher and binary, at the niceness asked for', async () => {
    const anvil = await startAnvil({ accounts: 1, chainId: 424_242, niceness: 7 })
    try {
      // The npm launcher (node) and the binary it starts both carry the unique chain id in their arguments.
      const ours = readdirSync('/proc')
        .filter(entry => /^\d+$/.test(entry))
        .filter(pid => {
          try {
            const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
            return args.some(a => /anvil(\/bin\.mjs)?$/.test(a)) && args.includes('424242')
          } catch {
            return false
          }
        })
        .map(Number)
      assert.ok(ours.length >= 2, `launcher and binary, found ${ours.length}`)
      for (const pid of ours) assert.equal(getPriority(pid), 7, `process ${pid}`)
    } finally {
      await anvil.stop()
    }
  })

  it('reports why Anvil did not start', async () => {
    await assert.rejects(
      startAnvil({ chainId: -1 }),
      /anvil .*exited with code \d+ before listening\n.*unexpected argument '-1'/,
    )
  })
})
