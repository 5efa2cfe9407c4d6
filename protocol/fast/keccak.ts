// Keccak-256 of one 32- or 64-byte input, as a WebAssembly function assembled here from the definition
// of keccak-f[1600] (FIPS 202 §3): the rewards tree (../merkle.ts) hashes three such inputs per leaf.
// JavaScript has no 64-bit integers, so a lane costs two 32-bit halves and several operations per
// rotation, while wasm's i64.rotl is one instruction. Deterministic like any integer code. Contract:
// test/protocol/hash.test.ts holds it to @noble/hashes' keccak_256; docs/performance.md has the
// measurements that keep it here.
//
// The module has one page of memory: the 25-lane state at bytes [0, 200), little-endian as keccak wants
// (wasm is little-endian on every host), and the round constants at [ROUND_CONSTANTS, +192).

const ROUND_CONSTANTS = 256
const RC = [
  0x0000000000000001n,
  0x0000000000008082n,
  0x800000000000808an,
  0x8000000080008000n,
  0x000000000000808bn,
  0x0000000080000001n,
  0x8000000080008081n,
  0x8000000000008009n,
  0x000000000000008an,
  0x0000000000000088n,
  0x0000000080008009n,
  0x000000008000000an,
  0x000000008000808bn,
  0x800000000000008bn,
  0x8000000000008089n,
  0x8000000000008003n,
  0x8000000000008002n,
  0x8000000000000080n,
  0x000000000000800an,
  0x800000008000000an,
  0x8000000080008081n,
  0x8000000000008080n,
  0x0000000080000001n,
  0x8000000080008008n,
]
/** rotation of lane x + 5y in rho */
const RHO = [0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14]

const op = {
  end: 0x0b,
  loop: 0x03,
  brIf: 0x0d,
  get: 0x20,
  set: 0x21,
  i32Const: 0x41,
  i64Const: 0x42,
  i64Load: 0x29,
  i64Store: 0x37,
  i32Add: 0x6a,
  i32Ne: 0x47,
  i64And: 0x83,
  i64Xor: 0x85,
  i64Rotl: 0x89,
}

function uleb(n: number): number[] {
  const out: number[] = []
  do {
    const byte = n & 0x7f
    n >>>= 7
    out.push(n === 0 ? byte : byte | 0x80)
  } while (n !== 0)
  return out
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]
const name = (text: string): number[] => [...uleb(text.length), ...Buffer.from(text, 'latin1')]

/** Signed LEB128 of a 64-bit value (for i64.const). */
function sleb(value: bigint): number[] {
  const out: number[] = []
  let v = BigInt.asIntN(64, value)
  for (;;) {
    const byte = Number(v & 0x7fn)
    v >>= 7n
    if ((v === 0n && (byte & 0x40) === 0) || (v === -1n && (byte & 0x40) !== 0)) return [...out, byte]
    out.push(byte | 0x80)
  }
}

/**
 * A function body: local 0 is the round offset (i32), then lanes a, b, c, d (i64). Keccak-256 of the
 * first `inputLanes` lanes (< 17) in memory, padded here, the digest written to bytes [0, 32).
 */
function body(inputLanes: number): number[] {
  const a = (i: number) => 1 + i
  const b = (i: number) => 26 + i
  const c = (x: number) => 51 + x
  const d = (x: number) => 56 + x
  const code: number[] = []
  const get = (l: number) => code.push(op.get, l)
  const set = (l: number) => code.push(op.set, l)
  for (let i = 0; i < inputLanes; i++) {
    code.push(op.i32Const, 0, op.i64Load, 3, ...uleb(8 * i))
    set(a(i))
  }
  // locals start at zero: the padding is 0x01 after the input and 0x80 in the last byte of the rate
  const last = 1n << 63n
  if (inputLanes === 16) code.push(op.i64Const, ...sleb(last | 1n))
  else {
    code.push(op.i64Const, 1)
    set(a(inputLanes))
    code.push(op.i64Const, ...sleb(last))
  }
  set(a(16))
  code.push(op.loop, 0x40)
  // theta
  for (let x = 0; x < 5; x++) {
    get(a(x))
    for (let y = 1; y < 5; y++) {
      get(a(x + 5 * y))
      code.push(op.i64Xor)
    }
    set(c(x))
  }
  for (let x = 0; x < 5; x++) {
    get(c((x + 4) % 5))
    get(c((x + 1) % 5))
    code.push(op.i64Const, 1, op.i64Rotl, op.i64Xor)
    set(d(x))
  }
  // theta's xor, rho and pi: b[y, 2x + 3y] = rotl(a[x, y] ^ d[x], rho[x, y])
  for (let x = 0; x < 5; x++) {
    for (let y = 0; y < 5; y++) {
      get(a(x + 5 * y))
      get(d(x))
      code.push(op.i64Xor)
      const rho = RHO[x + 5 * y] as number
      if (rho !== 0) code.push(op.i64Const, ...uleb(rho), op.i64Rotl)
      set(b(y + 5 * ((2 * x + 3 * y) % 5)))
    }
  }
  // chi
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      get(b(((x + 1) % 5) + 5 * y))
      code.push(op.i64Const, 0x7f, op.i64Xor) // i64.const -1: not
      get(b(((x + 2) % 5) + 5 * y))
      code.push(op.i64And)
      get(b(x + 5 * y))
      code.push(op.i64Xor)
      set(a(x + 5 * y))
    }
  }
  // iota, then the next round
  get(a(0))
  code.push(op.get, 0, op.i64Load, 3, ...uleb(ROUND_CONSTANTS), op.i64Xor)
  set(a(0))
  code.push(op.get, 0, op.i32Const, 8, op.i32Add, op.set, 0)
  // 192 has the same signed and unsigned LEB128 encoding
  code.push(op.get, 0, op.i32Const, ...uleb(8 * 24), op.i32Ne, op.brIf, 0, op.end)
  for (let i = 0; i < 4; i++) {
    code.push(op.i32Const, 0)
    get(a(i))
    code.push(op.i64Store, 3, ...uleb(8 * i))
  }
  code.push(op.end)
  const locals = vec([
    [1, 0x7f],
    [60, 0x7e],
  ])
  const body = [...locals, ...code]
  return [...uleb(body.length), ...body]
}

function moduleBytes(): Uint8Array<ArrayBuffer> {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec([[0x60, 0, 0]])), // type 0: () -> ()
    ...section(3, vec([[0], [0]])), // two functions of type 0
    ...section(5, vec([[0x00, 1]])), // one page, fixed
    ...section(
      7,
      vec([
        [...name('memory'), 0x02, 0],
        [...name('hash32'), 0x00, 0],
        [...name('hash64'), 0x00, 1],
      ]),
    ),
    ...section(10, vec([body(4), body(8)])),
  ])
}

const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes()))
const memory = instance.exports.memory as WebAssembly.Memory
new BigUint64Array(memory.buffer, ROUND_CONSTANTS, 24).set(RC)

/** The 200-byte keccak state: the input goes in its first bytes, the digest comes out in [0, 32). */
export const state = new Uint8Array(memory.buffer, 0, 200)
/** The state as 32-bit words, for copying aligned 32-byte words in and out. */
export const stateWords = new Uint32Array(memory.buffer, 0, 50)
/** keccak256(state[0, 32)) and keccak256(state[0, 64)) written to state[0, 32); the rest of the state is scratch. */
export const hash32 = instance.exports.hash32 as () => void
export const hash64 = instance.exports.hash64 as () => void
