import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'

/**
 * A monthly allowance of relayed bytes (calendar month, UTC), persisted in the data dir so a restart
 * does not reset it. New tunnels are refused once it is spent; open ones run on.
 */
export class MonthlyQuota {
  private month: string
  private used: number

  constructor(
    /** changed by a config reload; takes effect on the next tunnel */
    public limitBytes: number,
    private readonly file: string,
    private readonly now: () => number = Date.now,
  ) {
    this.month = monthOf(now())
    this.used = 0
    if (existsSync(file)) {
      const saved = JSON.parse(readFileSync(file, 'utf8')) as { month?: unknown; bytes?: unknown }
      if (saved.month === this.month && typeof saved.bytes === 'number') this.used = saved.bytes
    }
  }

  get usedBytes(): number {
    this.rollOver()
    return this.used
  }

  add(bytes: number): void {
    this.rollOver()
    this.used += bytes
  }

  admit(): boolean {
    return this.usedBytes < this.limitBytes
  }

  flush(): void {
    const tmp = `${this.file}.tmp`
    writeFileSync(tmp, `${JSON.stringify({ month: this.month, bytes: this.used })}\n`)
    renameSync(tmp, this.file)
  }

  private rollOver(): void {
    const month = monthOf(this.now())
    if (month !== this.month) {
      this.month = month
      this.used = 0
    }
  }
}

function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7)
}
