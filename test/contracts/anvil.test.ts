import assert from 'node:assert/strict'
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

  it('reports why Anvil did not start', async () => {
    await assert.rejects(
      startAnvil({ chainId: -1 }),
      /anvil .*exited with code \d+ before listening\n.*unexpected argument '-1'/,
    )
  })
})
