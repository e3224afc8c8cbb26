import cliProgress from "cli-progress";

export interface Progress {
  /** Advance by `n` units (default 1). */
  tick(n?: number): void;
  stop(): void;
}

const SILENT: Progress = { tick() {}, stop() {} };

/**
 * A progress bar with rate and time left on an interactive terminal (stderr), and
 * nothing at all when `quiet` (e.g. `--json`) or when stderr is not a terminal.
 */
export function progressBar(label: string, total: number, opts: { quiet?: boolean; unit?: string } = {}): Progress {
  if (opts.quiet || !process.stderr.isTTY || total <= 0) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} ${opts.unit ?? ""} | {rate}/s | ETA {eta_formatted}`,
      hideCursor: true,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = Date.now();
  let value = 0;
  bar.start(total, 0, { rate: "0" });
  return {
    tick(n = 1) {
      value += n;
      const secs = (Date.now() - start) / 1000;
      bar.update(value, { rate: secs > 0 ? (value / secs).toFixed(1) : "0" });
    },
    stop() {
      bar.stop();
    },
  };
}
