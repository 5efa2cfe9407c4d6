/**
 * The event queue: a binary min-heap ordered by (time, sequence number), so events at the same instant
 * run in the order they were scheduled and every run processes the same events in the same order.
 * Events are three numbers (kind, a, b) kept in typed arrays: millions of probes cost no objects.
 */
export class EventQueue {
  private time = new Float64Array(1024)
  private seq = new Float64Array(1024)
  private kind = new Uint8Array(1024)
  private a = new Int32Array(1024)
  private b = new Int32Array(1024)
  private heap = new Int32Array(1024)
  private free: number[] = []
  private slots = 0
  private size = 0
  private nextSeq = 0

  get length(): number {
    return this.size
  }

  push(time: number, kind: number, a: number, b = 0): void {
    const slot = this.free.pop() ?? this.grow()
    this.time[slot] = time
    this.seq[slot] = this.nextSeq++
    this.kind[slot] = kind
    this.a[slot] = a
    this.b[slot] = b
    let i = this.size++
    if (this.size > this.heap.length) this.heap = grown(this.heap, this.size * 2)
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = this.heap[parent] as number
      if (!this.before(slot, p)) break
      this.heap[i] = p
      i = parent
    }
    this.heap[i] = slot
  }

  /** Removes the earliest event into `out`; false when the queue is empty. */
  pop(out: { time: number; kind: number; a: number; b: number }): boolean {
    if (this.size === 0) return false
    const top = this.heap[0] as number
    out.time = this.time[top] as number
    out.kind = this.kind[top] as number
    out.a = this.a[top] as number
    out.b = this.b[top] as number
    this.free.push(top)
    const last = this.heap[--this.size] as number
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= this.size) break
      const r = l + 1
      let c = this.heap[l] as number
      let ci = l
      if (r < this.size && this.before(this.heap[r] as number, c)) {
        c = this.heap[r] as number
        ci = r
      }
      if (!this.before(c, last)) break
      this.heap[i] = c
      i = ci
    }
    this.heap[i] = last
    return true
  }

  private before(x: number, y: number): boolean {
    const tx = this.time[x] as number
    const ty = this.time[y] as number
    return tx < ty || (tx === ty && (this.seq[x] as number) < (this.seq[y] as number))
  }

  private grow(): number {
    if (this.slots === this.time.length) {
      const n = this.slots * 2
      this.time = grown(this.time, n)
      this.seq = grown(this.seq, n)
      this.kind = grown(this.kind, n)
      this.a = grown(this.a, n)
      this.b = grown(this.b, n)
    }
    return this.slots++
  }
}

function grown<T extends Float64Array | Int32Array | Uint8Array>(array: T, length: number): T {
  const next = new (array.constructor as new (n: number) => T)(length)
  next.set(array)
  return next
}
