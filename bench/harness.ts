/** Tiny benchmark harness: repeat a function until a time budget is spent, report the median. */
export interface BenchResult {
  group: string;
  name: string;
  /** Median wall time of one run, milliseconds. */
  ms: number;
  runs: number;
  /** Extra figures: throughput, ratios against a reference measured in the same run. */
  figures: Record<string, number | string>;
}

export function timeIt(fn: () => unknown, opts: { minMs?: number; minRuns?: number; maxRuns?: number } = {}): { ms: number; runs: number } {
  const minMs = opts.minMs ?? 300;
  const minRuns = opts.minRuns ?? 5;
  const maxRuns = opts.maxRuns ?? 1000;
  fn(); // warm-up: JIT and caches
  const times: number[] = [];
  const start = performance.now();
  while (times.length < maxRuns && (times.length < minRuns || performance.now() - start < minMs)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, runs: times.length };
}

/** One aligned table per group, each with only the figure columns its rows use. */
export function formatTable(results: BenchResult[]): string {
  const groups = [...new Set(results.map((r) => r.group))];
  return groups.map((g) => formatGroup(g, results.filter((r) => r.group === g))).join("\n\n");
}

function formatGroup(group: string, results: BenchResult[]): string {
  const figureKeys = [...new Set(results.flatMap((r) => Object.keys(r.figures)))];
  const header = [group, "median ms", "runs", ...figureKeys];
  const fmt = (v: number | string | undefined): string =>
    v === undefined || (typeof v === "number" && Number.isNaN(v)) ? "" : typeof v === "number" ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3)) : v;
  const rows = results.map((r) => [r.name, fmt(r.ms), String(r.runs), ...figureKeys.map((k) => fmt(r.figures[k]))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
