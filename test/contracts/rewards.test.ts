import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
  zeroHash,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { type Anvil, startAnvil } from '../../contracts/anvil.ts'
import { loadArtifact } from '../../contracts/artifacts.ts'
import {
  AnchorConflictError,
  anchoredEpochs,
  anchorEpoch,
  claimedBy,
  claimRewards,
  deployContracts,
  readRewards,
  rootOf,
  rotateCommittee,
  tokenBalance,
} from '../../contracts/client.ts'
import { networkHash } from '../../contracts/typed-data.ts'
import {
  anchorSigned,
  claimLeaf,
  expectRevert,
  type RewardsTree,
  rewardsTree,
  signEpoch,
  signRotation,
  type Target,
} from './helpers.ts'

const networkId = 'local-test'
const emissionPerEpoch = 1_000n * 10n ** 18n
const units = (n: number) => BigInt(n) * 10n ** 18n

describe('contracts: WeirRewards on Anvil', () => {
  let anvil: Anvil
  let client: PublicClient
  let deployer: Hex
  let committee: Hex[]
  let successors: Hex[]
  let outsider: Hex
  let alice: Address
  let bob: Address
  let carol: Address
  let token: Address
  let rewards: Address
  let target: Target
  const trees: RewardsTree[] = []
  const rewardsAbi = loadArtifact('WeirRewards').abi

  const address = (key: Hex) => privateKeyToAccount(key).address
  const contentRoot = (epoch: number) => `0x${(epoch + 1).toString(16).padStart(64, 'c')}` as Hex

  /** Calls submitEpoch as a transaction would (eth_call), so its revert reason can be decoded. */
  const submit = (epoch: bigint, root: Hex, total: bigint, signatures: readonly Hex[]) =>
    client.simulateContract({
      address: rewards,
      abi: rewardsAbi,
      functionName: 'submitEpoch',
      args: [epoch, contentRoot(Number(epoch)), root, total, signatures],
      account: address(deployer),
    })

  const certificate = async (epoch: number, tree: RewardsTree, keys = committee.slice(0, 3)) => {
    const root = {
      epoch,
      contentRoot: contentRoot(epoch),
      rewardsRoot: tree.root,
      cumulativeTotal: tree.total,
    }
    return { ...root, signatures: await signEpoch(keys, target, root) }
  }

  const totalSupply = async () =>
    (await client.readContract({ address: rewards, abi: rewardsAbi, functionName: 'totalSupply' })) as bigint

  const claim = (account: Address, tree: RewardsTree, payer = deployer) =>
    claimLeaf({ rpcUrl: anvil.rpcUrl, rewards, key: payer }, tree, account)

  before(async () => {
    anvil = await startAnvil({ accounts: 12 })
    client = createPublicClient({ transport: http(anvil.rpcUrl) })
    const keys = anvil.privateKeys
    deployer = keys[0]!
    committee = keys.slice(1, 5)
    successors = keys.slice(5, 8)
    outsider = keys[8]!
    alice = anvil.accounts[9]!
    bob = anvil.accounts[10]!
    carol = anvil.accounts[11]!
    trees.push(
      rewardsTree({ [alice]: units(100), [bob]: units(50) }),
      rewardsTree({ [alice]: units(300), [bob]: units(50), [carol]: units(200) }),
      rewardsTree({ [alice]: units(300), [bob]: units(120), [carol]: units(1100) }),
    )
  })

  after(async () => {
    await anvil?.stop()
  })

  it('deploys the token and the rewards contract with the committee', async () => {
    ;({ token, rewards } = await deployContracts({
      rpcUrl: anvil.rpcUrl,
      deployerKey: deployer,
      networkId,
      committee: committee.map(address),
      quorum: 3,
      emissionPerEpoch,
    }))
    target = { chainId: anvil.chainId, rewards, networkId }
    const state = await readRewards({ rpcUrl: anvil.rpcUrl, rewards })
    assert.equal(state.token, token)
    assert.equal(state.network, networkHash(networkId))
    assert.deepEqual(state.committee, committee.map(address))
    assert.equal(state.quorum, 3n)
    assert.equal(state.nextEpoch, 0n)
    assert.equal(state.rotationNonce, 0n)
    assert.equal(state.emissionPerEpoch, emissionPerEpoch)
    // The rewards contract is the token; nothing but a claim can mint.
    assert.equal(token, rewards)
    const read = (functionName: string) =>
      client.readContract({ address: token, abi: rewardsAbi, functionName })
    assert.deepEqual(await Promise.all(['name', 'symbol', 'decimals', 'totalSupply'].map(read)), [
      'Weir',
      'WEIR',
      18,
      0n,
    ])
    const functions = rewardsAbi.flatMap(item => (item.type === 'function' ? [item.name] : []))
    assert.ok(functions.includes('claim') && !functions.some(name => /mint|burn/i.test(name)))
  })

  it('refuses an invalid committee at deployment', async () => {
    const deploy = (members: Address[], quorum: number) =>
      deployContracts({
        rpcUrl: anvil.rpcUrl,
        deployerKey: deployer,
        networkId,
        committee: members,
        quorum,
        emissionPerEpoch,
      })
    const members = committee.map(address)
    await expectRevert(deploy(members, 0), 'InvalidQuorum')
    await expectRevert(deploy(members, 5), 'InvalidQuorum')
    await expectRevert(deploy([], 1), 'InvalidCommitteeSize')
    await expectRevert(deploy([members[0]!, members[0]!], 1), 'InvalidMember')
    await expectRevert(
      deployContracts({
        rpcUrl: anvil.rpcUrl,
        deployerKey: deployer,
        networkId,
        committee: members,
        quorum: 1,
        emissionPerEpoch: 1n << 128n,
      }),
      'InvalidEmission',
    )
    await assert.rejects(deploy(members, 0), (err: Error) => {
      assert.equal(err.message, 'deploying WeirRewards: reverted with InvalidQuorum(0, 4)')
      return true
    })
  })

  it('refuses submissions without a quorum of distinct committee signatures over the same digest', async () => {
    const tree = trees[0]!
    const root = {
      epoch: 0,
      contentRoot: contentRoot(0),
      rewardsRoot: tree.root,
      cumulativeTotal: tree.total,
    }
    const [a, b, c] = await signEpoch(committee.slice(0, 3), target, root)
    const [stranger] = await signEpoch([outsider], target, root)
    const [otherChain] = await signEpoch([committee[2]!], { ...target, chainId: 1 }, root)
    const [otherContract] = await signEpoch([committee[2]!], { ...target, rewards: address(outsider) }, root)
    const [otherNetwork] = await signEpoch([committee[2]!], { ...target, networkId: 'local-other' }, root)
    const [otherRoot] = await signEpoch([committee[2]!], target, { ...root, rewardsRoot: zeroHash })
    const highS = flipS(c!)
    const go = (sigs: Hex[]) => submit(0n, tree.root, tree.total, sigs)

    await expectRevert(go([a!, b!]), 'NotEnoughSignatures')
    await expectRevert(go([a!, b!, a!]), 'DuplicateSigner')
    await expectRevert(go([a!, b!, stranger!]), 'NotCommitteeMember')
    await expectRevert(go([a!, b!, otherChain!]), 'NotCommitteeMember')
    await expectRevert(go([a!, b!, otherContract!]), 'NotCommitteeMember')
    await expectRevert(go([a!, b!, otherNetwork!]), 'NotCommitteeMember')
    await expectRevert(go([a!, b!, otherRoot!]), 'NotCommitteeMember')
    await expectRevert(go([a!, b!, highS]), 'InvalidSignature')
    await expectRevert(go([a!, b!, c!.slice(0, 130) as Hex]), 'InvalidSignature')
    // A valid certificate, but for the wrong epoch.
    const skipped = await certificate(1, tree)
    await expectRevert(submit(1n, tree.root, tree.total, skipped.signatures), 'NotNextEpoch')
    // Signed over a total above one epoch's emission.
    const greedy = { ...root, cumulativeTotal: emissionPerEpoch + 1n }
    await expectRevert(
      submit(0n, tree.root, greedy.cumulativeTotal, await signEpoch(committee.slice(0, 3), target, greedy)),
      'EmissionExceeded',
    )
    assert.equal((await readRewards({ rpcUrl: anvil.rpcUrl, rewards })).nextEpoch, 0n)
  })

  it('anchors epoch 0 idempotently and reports a conflicting root', async () => {
    const cert = await certificate(0, trees[0]!, committee.slice(1, 4))
    const first = await anchorEpoch({ rpcUrl: anvil.rpcUrl, key: deployer, rewards, certificate: cert })
    assert.equal(first.alreadyAnchored, false)
    const again = await anchorEpoch({ rpcUrl: anvil.rpcUrl, key: outsider, rewards, certificate: cert })
    assert.deepEqual(again, { alreadyAnchored: true, txHash: first.txHash })

    const other = await certificate(0, trees[1]!)
    await assert.rejects(
      anchorEpoch({ rpcUrl: anvil.rpcUrl, key: deployer, rewards, certificate: other }),
      AnchorConflictError,
    )
    await expectRevert(submit(0n, other.rewardsRoot, other.cumulativeTotal, other.signatures), 'NotNextEpoch')
    assert.deepEqual(await rootOf({ rpcUrl: anvil.rpcUrl, rewards, epoch: 0 }), {
      epoch: 0n,
      contentRoot: contentRoot(0),
      rewardsRoot: trees[0]!.root,
      cumulativeTotal: trees[0]!.total,
    })
    assert.equal(await rootOf({ rpcUrl: anvil.rpcUrl, rewards, epoch: 1 }), undefined)
    // Certified, not minted: claims mint.
    assert.equal(await totalSupply(), 0n)
    assert.equal((await readRewards({ rpcUrl: anvil.rpcUrl, rewards })).anchoredTotal, trees[0]!.total)
  })

  it('pays a claim exactly the cumulative amount, then nothing until more is owed', async () => {
    const paid = await claim(alice, trees[0]!)
    assert.equal(paid.amount, units(100))
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token, account: alice }), units(100))
    assert.equal(await claimedBy({ rpcUrl: anvil.rpcUrl, rewards, account: alice }), units(100))
    await expectRevert(claim(alice, trees[0]!), 'NothingToClaim')
  })

  it('anchors epochs 1 and 2 in order and refuses a gap or a decreasing total', async () => {
    const cert2 = await certificate(2, trees[2]!)
    await assert.rejects(
      anchorEpoch({ rpcUrl: anvil.rpcUrl, key: deployer, rewards, certificate: cert2 }),
      /epoch 2 cannot be anchored yet: the contract expects epoch 1 next/,
    )
    // Three submitters race with the same certificate: one anchors it, the others find it anchored.
    const cert1 = await certificate(1, trees[1]!)
    const raced = await Promise.all(
      [deployer, outsider, committee[0]!].map(key =>
        anchorEpoch({ rpcUrl: anvil.rpcUrl, key, rewards, certificate: cert1 }),
      ),
    )
    assert.equal(raced.filter(r => !r.alreadyAnchored).length, 1)
    assert.equal(new Set(raced.map(r => r.txHash)).size, 1)
    await anchorEpoch({ rpcUrl: anvil.rpcUrl, key: deployer, rewards, certificate: cert2 })

    const shrunk = rewardsTree({ [alice]: units(300), [bob]: units(120), [carol]: units(1000) })
    const cert3 = await certificate(3, shrunk)
    await expectRevert(submit(3n, shrunk.root, shrunk.total, cert3.signatures), 'TotalDecreased')

    const anchored = await anchoredEpochs({ rpcUrl: anvil.rpcUrl, rewards })
    assert.deepEqual(
      anchored.map(e => [e.epoch, e.rewardsRoot, e.cumulativeTotal]),
      trees.map((t, i) => [BigInt(i), t.root, t.total]),
    )
    const state = await readRewards({ rpcUrl: anvil.rpcUrl, rewards })
    assert.equal(state.nextEpoch, 3n)
    assert.equal(state.anchoredTotal, trees[2]!.total)
    assert.equal(state.latestRewardsRoot, trees[2]!.root)
  })

  it('pays only what is new since the last claim, to the account whoever submits it', async () => {
    const latest = trees[2]!
    assert.equal((await claim(alice, latest)).amount, units(200))
    assert.equal((await claim(bob, latest)).amount, units(120))
    const before = await tokenBalance({ rpcUrl: anvil.rpcUrl, token, account: address(outsider) })
    assert.equal((await claim(carol, latest, outsider)).amount, units(1100))
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token, account: address(outsider) }), before)
    assert.equal(await tokenBalance({ rpcUrl: anvil.rpcUrl, token, account: carol }), units(1100))
    // Every certified token is now minted and paid out.
    assert.equal(await totalSupply(), latest.total)
  })

  it('is an ERC-20 whose transfers leave claimed totals alone', async () => {
    const wallet = (key: Hex) =>
      createWalletClient({ account: privateKeyToAccount(key), transport: http(anvil.rpcUrl) })
    const call = async (key: Hex, functionName: string, args: readonly unknown[]) => {
      const { request } = await client.simulateContract({
        address: token,
        abi: rewardsAbi,
        functionName,
        args,
        account: address(key),
      })
      await client.waitForTransactionReceipt({
        hash: await wallet(key).writeContract({ ...request, chain: null }),
      })
    }
    const balance = (account: Address) => tokenBalance({ rpcUrl: anvil.rpcUrl, token, account })
    const carolKey = anvil.privateKeys[11]!
    const dave = address(outsider)
    await call(carolKey, 'transfer', [dave, units(100)])
    assert.equal(await balance(carol), units(1000))
    assert.equal(await balance(dave), units(100))
    assert.equal(await claimedBy({ rpcUrl: anvil.rpcUrl, rewards, account: carol }), units(1100))
    await expectRevert(
      client.simulateContract({
        address: token,
        abi: rewardsAbi,
        functionName: 'transfer',
        args: [carol, units(100) + 1n],
        account: dave,
      }),
      'ERC20InsufficientBalance',
    )
    await call(carolKey, 'approve', [dave, units(30)])
    await call(outsider, 'transferFrom', [carol, bob, units(30)])
    assert.equal(await balance(carol), units(970))
    assert.equal(await balance(bob), units(150))
    await call(carolKey, 'transfer', [carol, units(970)])
    assert.equal(await balance(carol), units(970))
    assert.equal(await totalSupply(), trees[2]!.total)
    assert.equal(await claimedBy({ rpcUrl: anvil.rpcUrl, rewards, account: bob }), units(120))
  })

  it('refuses a wrong proof, a wrong amount, somebody else’s account and a stale root', async () => {
    const latest = trees[2]!
    const attempt = (account: Address, cumulativeAmount: bigint, proof: Hex[]) =>
      claimRewards({ rpcUrl: anvil.rpcUrl, key: outsider, rewards, account, cumulativeAmount, proof })
    await expectRevert(attempt(bob, units(120), latest.proof(alice)), 'InvalidProof')
    await expectRevert(attempt(bob, units(121), latest.proof(bob)), 'InvalidProof')
    await expectRevert(attempt(address(outsider), units(120), latest.proof(bob)), 'InvalidProof')
    await expectRevert(attempt(carol, units(200), trees[1]!.proof(carol)), 'InvalidProof')
    await expectRevert(attempt(bob, units(120), []), 'InvalidProof')
  })

  it('rotates the committee only with a quorum of the current one; then only the new one certifies', async () => {
    const members = successors.map(address)
    const rotation = { nonce: 0n, members, quorum: 2 }
    const good = await signRotation(committee.slice(0, 3), target, rotation)
    const rotate = (signatures: Hex[], quorum = 2, newMembers = members) =>
      client.simulateContract({
        address: rewards,
        abi: rewardsAbi,
        functionName: 'rotateCommittee',
        args: [newMembers, BigInt(quorum), signatures],
        account: address(deployer),
      })
    await expectRevert(rotate(await signRotation(successors, target, rotation)), 'NotCommitteeMember')
    await expectRevert(rotate(good.slice(0, 2)), 'NotEnoughSignatures')
    await expectRevert(
      rotate(await signRotation(committee.slice(0, 3), target, { ...rotation, nonce: 1n })),
      'NotCommitteeMember',
    )
    await expectRevert(rotate(good, 3), 'NotCommitteeMember')
    await expectRevert(rotate(good, 2, members.slice(0, 2)), 'NotCommitteeMember')
    const zeroQuorum = await signRotation(committee.slice(0, 3), target, { ...rotation, quorum: 0 })
    await expectRevert(rotate(zeroQuorum, 0), 'InvalidQuorum')

    await rotateCommittee({
      rpcUrl: anvil.rpcUrl,
      key: outsider,
      rewards,
      members,
      quorum: 2,
      signatures: good,
    })
    const state = await readRewards({ rpcUrl: anvil.rpcUrl, rewards })
    assert.deepEqual(state.committee, members)
    assert.equal(state.quorum, 2n)
    assert.equal(state.rotationNonce, 1n)
    await expectRevert(rotate(good), 'NotCommitteeMember')

    const tree3 = rewardsTree({ [alice]: units(400), [bob]: units(120), [carol]: units(1100) })
    const byOld = await certificate(3, tree3, committee)
    await expectRevert(submit(3n, tree3.root, tree3.total, byOld.signatures), 'NotCommitteeMember')
    const byNew = await certificate(3, tree3, successors.slice(0, 2))
    const anchored = await anchorEpoch({ rpcUrl: anvil.rpcUrl, key: deployer, rewards, certificate: byNew })
    assert.equal(anchored.alreadyAnchored, false)
    assert.equal((await claim(alice, tree3)).amount, units(100))
  })

  it('never mints beyond the anchored total, and refuses totals of 2^128 or more', async () => {
    const max = (1n << 128n) - 1n
    const deployed = await deployContracts({
      rpcUrl: anvil.rpcUrl,
      deployerKey: deployer,
      networkId,
      committee: committee.map(address),
      quorum: 3,
      emissionPerEpoch: max,
    })
    const own = { chainId: anvil.chainId, rewards: deployed.rewards, networkId }
    const anchorOwn = async (epoch: number, rewardsRoot: Hex, cumulativeTotal: bigint) => {
      const root = { epoch, contentRoot: contentRoot(epoch), rewardsRoot, cumulativeTotal }
      return anchorSigned({ rpcUrl: anvil.rpcUrl, key: deployer }, committee.slice(0, 3), own, root)
    }
    const claimOwn = (account: Address, tree: RewardsTree) =>
      claimLeaf({ rpcUrl: anvil.rpcUrl, rewards: deployed.rewards, key: deployer }, tree, account)
    // A (byzantine) quorum certifies leaves adding up to 20 under a cumulative total of 15.
    const overdrawn = rewardsTree({ [alice]: 10n, [bob]: 10n })
    await anchorOwn(0, overdrawn.root, 15n)
    assert.equal((await claimOwn(alice, overdrawn)).amount, 10n)
    await expectRevert(claimOwn(bob, overdrawn), 'ClaimExceedsAnchoredTotal')
    const supply = () =>
      client.readContract({ address: deployed.rewards, abi: rewardsAbi, functionName: 'totalSupply' })
    assert.equal(await supply(), 10n)
    // Within one emission of the previous total, but not below 2^128.
    await expectRevert(anchorOwn(1, overdrawn.root, max + 1n), 'TotalTooLarge')
    // The largest total is fine, and a one-leaf tree is claimed with an empty proof.
    const single = rewardsTree({ [bob]: max - 10n })
    await anchorOwn(1, single.root, max)
    assert.deepEqual(single.proof(bob), [])
    assert.equal((await claimOwn(bob, single)).amount, max - 10n)
    assert.equal(await supply(), max)
  })

  it('retries anchoring through transient RPC failures', async () => {
    const proxy = await flakyProxy(anvil.rpcUrl, 3)
    try {
      const tree4 = rewardsTree({ [alice]: units(500), [bob]: units(120), [carol]: units(1100) })
      const cert = await certificate(4, tree4, successors.slice(1, 3))
      const result = await anchorEpoch({
        rpcUrl: proxy.url,
        key: deployer,
        rewards,
        certificate: cert,
        retry: { attempts: 6, baseDelayMs: 20 },
      })
      assert.equal(result.alreadyAnchored, false)
      assert.equal(proxy.dropped(), 3)
      assert.equal((await rootOf({ rpcUrl: anvil.rpcUrl, rewards, epoch: 4 }))?.rewardsRoot, tree4.root)
    } finally {
      await proxy.close()
    }
  })

  it('gives up on an unreachable RPC after its retries', async () => {
    const proxy = await flakyProxy(anvil.rpcUrl, Number.POSITIVE_INFINITY)
    try {
      const cert = await certificate(5, trees[2]!)
      await assert.rejects(
        anchorEpoch({
          rpcUrl: proxy.url,
          key: deployer,
          rewards,
          certificate: cert,
          retry: { attempts: 3, baseDelayMs: 10 },
        }),
        /HTTP request failed/,
      )
      assert.equal(proxy.dropped(), 3)
    } finally {
      await proxy.close()
    }
  })
})

/** The same signature with s replaced by n − s (and v flipped): valid for ecrecover, refused as malleable. */
function flipS(signature: Hex): Hex {
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const r = signature.slice(2, 66)
  const s = BigInt(`0x${signature.slice(66, 130)}`)
  const v = Number.parseInt(signature.slice(130, 132), 16)
  return `0x${r}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
}

/** An HTTP proxy to the RPC that drops the first `failures` connections without answering. */
async function flakyProxy(rpcUrl: string, failures: number) {
  let dropped = 0
  const server: Server = createServer(async (req, res) => {
    if (dropped < failures) {
      dropped++
      req.socket.destroy()
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const upstream = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat(chunks),
    })
    res.writeHead(upstream.status, { 'content-type': 'application/json' })
    res.end(await upstream.text())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    dropped: () => dropped,
    close: () =>
      new Promise<void>(resolve => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
