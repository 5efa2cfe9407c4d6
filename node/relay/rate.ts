const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  bit: 1 / 8,
  kbit: 1e3 / 8,
  mbit: 1e6 / 8,
  gbit: 1e9 / 8,
}

/**
 * Parses a bandwidth such as `5MB/s`, `500kB/s`, `10Mbit/s` or plain bytes per second (`1000000`) into
 * bytes per second. Decimal prefixes are powers of 10 (MB = 10^6 bytes), binary ones (MiB) of 1024.
 */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)(?:\/s|ps)?$/.exec(text.trim())
  const unit = m?.[2] === '' ? 1 : UNITS[(m?.[2] ?? 'none').toLowerCase()]
  const value = m && unit !== undefined ? Number(m[1]) * unit : Number.NaN
  if (!(value >= 1) || !Number.isFinite(value)) {
    throw new RangeError(`expects a rate such as 5MB/s, 500kB/s, 10Mbit/s or bytes per second, got '${text}'`)
  }
  return Math.floor(value)
}

/** Parses an amount of data such as `500GB` or `2TB` (for quotas) into bytes. */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?i?b)?$/i.exec(text.trim())
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 1024,
    mib: 1024 ** 2,
    gib: 1024 ** 3,
    tib: 1024 ** 4,
  }
  const unit = units[(m?.[2] ?? 'b').toLowerCase()]
  const value = m && unit !== undefined ? Number(m[1]) * unit : Number.NaN
  if (!(value >= 1) || !Number.isFinite(value)) {
    throw new RangeError(`expects an amount such as 500GB or 2TB, got '${text}'`)
  }
  return Math.floor(value)
}
