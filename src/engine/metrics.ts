/**
 * The few numbers an operator needs, in Prometheus text format (GET /metrics): queue depth,
 * batch sizes, step latency, jobs by outcome. Small enough to keep without a dependency.
 */
type Labels = Record<string, string>;

const key = (labels: Labels) =>
  Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`)
    .join(',');

export class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k ? `{${k}}` : ''} ${v}`);
    return lines.join('\n');
  }
}

class Gauge {
  constructor(readonly name: string, readonly help: string, private readonly read: () => number) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly help: string, private readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]++;
    });
  }
  get total(): number {
    return this.count;
  }
  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.count}`, `${this.name}_sum ${this.sum}`, `${this.name}_count ${this.count}`);
    return lines.join('\n');
  }
}

export class EngineMetrics {
  readonly jobs = new Counter('advserve_jobs_total', 'Attack and classify jobs by kind and outcome (finished, failed, cancelled, rejected).');
  readonly batchSize = new Histogram('advserve_batch_size', 'Requests per batched model pass.', [1, 2, 4, 8, 16, 32]);
  readonly stepSeconds = new Histogram('advserve_batch_seconds', 'Wall time of one batched model pass.', [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]);
  readonly queueWaitSeconds = new Histogram('advserve_queue_wait_seconds', 'Time a request waited before its batch started.', [0.01, 0.05, 0.1, 0.5, 1, 5, 10]);
  private gauges: Gauge[] = [];

  gauge(name: string, help: string, read: () => number): void {
    this.gauges.push(new Gauge(name, help, read));
  }

  render(): string {
    return [this.jobs, this.batchSize, this.stepSeconds, this.queueWaitSeconds, ...this.gauges].map((m) => m.render()).join('\n') + '\n';
  }
}
