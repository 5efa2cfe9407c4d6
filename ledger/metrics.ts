// A few Prometheus counters and gauges, rendered in the text exposition format (version 0.0.4).

type Labels = Record<string, string>

interface Family {
  help: string
  type: 'counter' | 'gauge'
  values: Map<string, number>
}

const labelText = (labels: Labels): string => {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, '_')}"`)
  return parts.length === 0 ? '' : `{${parts.join(',')}}`
}

export class Metrics {
  private readonly families = new Map<string, Family>()
  private readonly gauges = new Map<string, () => number>()

  private family(name: string, help: string, type: Family['type']): Family {
    let f = this.families.get(name)
    if (!f) this.families.set(name, (f = { help, type, values: new Map() }))
    return f
  }

  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    const f = this.family(name, help, 'counter')
    const key = labelText(labels)
    f.values.set(key, (f.values.get(key) ?? 0) + by)
  }

  /** A gauge read when scraped. */
  gauge(name: string, help: string, read: () => number): void {
    this.family(name, help, 'gauge')
    this.gauges.set(name, read)
  }

  get(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.values.get(labelText(labels)) ?? 0
  }

  render(): string {
    const lines: string[] = []
    for (const [name, f] of this.families) {
      lines.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`)
      const read = this.gauges.get(name)
      if (read) lines.push(`${name} ${read()}`)
      else for (const [labels, value] of f.values) lines.push(`${name}${labels} ${value}`)
    }
    return `${lines.join('\n')}\n`
  }
}
