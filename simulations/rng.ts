import { u64be, utf8 } from '../protocol/bytes.ts'
import { sha256 } from '../protocol/hash.ts'

/**
 * One node's random stream: sfc32 (Chris Doty-Humphrey's small fast counter generator, 128-bit state)
 * seeded from sha256(run seed, node id), so a node draws the same numbers whatever other nodes do and
 * adding a node never shifts anyone else's stream.
 */
export class Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number, nodeId: string) {
    const digest = sha256(utf8('weir/sim/rng\0'), u64be(seed), utf8(nodeId))
    const view = new DataView(digest.buffer, digest.byteOffset, 16)
    this.a = view.getUint32(0)
    this.b = view.getUint32(4)
    this.c = view.getUint32(8)
    this.d = view.getUint32(12) | 1
    for (let i = 0; i < 12; i++) this.u32()
  }

  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** The next n u32() draws into out[0..n), with the state in locals: for loops that draw in bulk. */
  fill(out: Uint32Array, n: number): void {
    let a = this.a
    let b = this.b
    let c = this.c
    let d = this.d
    for (let i = 0; i < n; i++) {
      const t = (((a + b) | 0) + d) | 0
      d = (d + 1) | 0
      a = b ^ (b >>> 9)
      b = (c + (c << 3)) | 0
      c = (c << 21) | (c >>> 11)
      c = (c + t) | 0
      out[i] = t >>> 0
    }
    this.a = a
    this.b = b
    this.c = c
    this.d = d
  }

  /** uniform in [0, 1) with 32 bits of resolution */
  float(): number {
    return this.u32() / 4294967296
  }

  /** uniform integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.float() * n)
  }

  uniform(min: number, max: number): number {
    return min + (max - min) * this.float()
  }

  exponential(mean: number): number {
    return -mean * Math.log(1 - this.float())
  }

  /** standard normal (Box–Muller, one of the pair) */
  normal(): number {
    const u = 1 - this.float()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.float())
  }

  lognormal(median: number, sigma: number): number {
    return median * Math.exp(sigma * this.normal())
  }

  /** Poisson: Knuth's product method for small means, a rounded normal approximation above 50 */
  poisson(mean: number): number {
    if (mean <= 0) return 0
    if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * this.normal()))
    const limit = Math.exp(-mean)
    let k = 0
    let p = this.float()
    while (p > limit) {
      k++
      p *= this.float()
    }
    return k
  }
}
