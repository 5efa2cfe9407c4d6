import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseHex } from '../../protocol/bytes.ts'
import type { Ed25519Key } from '../../protocol/ed25519.ts'
import { NetworkDefinitionError } from '../../protocol/errors.ts'
import {
  type Address,
  loadNetworkDefinition,
  type NetworkDefinition,
  networkDefinitionToJson,
} from '../../protocol/network.ts'
import { createIdentity, type Identity, loadIdentity } from './identity.ts'

// A node's data dir: identity.key (0600), network.json (the definition it runs on) and config.json
// (operator settings). `weir init` creates it; every role loads it.
export const NETWORK_FILE = 'network.json'
export const CONFIG_FILE = 'config.json'

export interface NodeConfig {
  /** where this node's relay rewards are paid; required to run a relay */
  payout?: Address
}

export interface DataDir {
  dir: string
  network: NetworkDefinition
  identity: Identity
  config: NodeConfig
}

/** Reads and validates a network definition file; errors name the file and the field. */
export function readNetworkFile(path: string): NetworkDefinition {
  if (!existsSync(path)) throw new Error(`${path}: no such network definition file`)
  try {
    return loadNetworkDefinition(readFileSync(path, 'utf8'))
  } catch (err) {
    if (err instanceof NetworkDefinitionError) throw new Error(`${path}: ${err.message}`)
    throw err
  }
}

export function writeNetworkFile(path: string, network: NetworkDefinition): void {
  writeFileSync(path, `${JSON.stringify(networkDefinitionToJson(network), null, 2)}\n`)
}

function parseConfig(path: string): NodeConfig {
  let json: unknown
  try {
    json = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new Error(`${path}: expected JSON: ${(err as Error).message}`)
  }
  const o = json as Record<string, unknown>
  if (typeof o !== 'object' || o === null) throw new Error(`${path}: expected a JSON object`)
  const config: NodeConfig = {}
  if (o.payout !== undefined) {
    if (typeof o.payout !== 'string' || !o.payout.startsWith('0x') || !parseHex(o.payout, 20)) {
      throw new Error(`${path}: payout: expected a 0x-prefixed 20-byte hex address`)
    }
    config.payout = o.payout.toLowerCase() as Address
  }
  return config
}

export function initDataDir(
  dir: string,
  network: NetworkDefinition,
  config: NodeConfig,
  key?: Ed25519Key,
): DataDir {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (existsSync(join(dir, 'identity.key')))
    throw new Error(`${dir}: already initialised (identity.key exists)`)
  const identity = createIdentity(dir, key)
  writeNetworkFile(join(dir, NETWORK_FILE), network)
  writeFileSync(join(dir, CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`)
  return { dir, network, identity, config }
}

export function loadDataDir(dir: string): DataDir {
  if (!existsSync(dir)) throw new Error(`${dir}: no such data dir (create one with 'weir init --dir ${dir}')`)
  const configPath = join(dir, CONFIG_FILE)
  return {
    dir,
    network: readNetworkFile(join(dir, NETWORK_FILE)),
    identity: loadIdentity(dir),
    config: existsSync(configPath) ? parseConfig(configPath) : {},
  }
}
