// `npm run fuzz`: 10^5 random and mutated inputs per reader (--runs=N to change, --only=a,b to pick
// readers, --seed=S to replay); prints the count, rate and any failure (shrunk), exits 1 on a failure.
import fc from "fast-check";
import { READERS, readerProperty } from "./readers.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(arg("runs") ?? 100_000);
const only = arg("only")?.split(",");
const baseSeed = Number(arg("seed") ?? Date.now() % 2 ** 31);
const CHUNK = 10_000;

let failed = 0;
const summary: { reader: string; inputs: number; seconds: number; failure?: string }[] = [];
process.stdout.write(`fuzzing ${runs} inputs per reader, seed ${baseSeed}\n`);
for (const [i, reader] of READERS.entries()) {
  if (only && !only.includes(reader.name)) continue;
  const t0 = performance.now();
  let done = 0;
  let failure: string | undefined;
  while (done < runs && failure === undefined) {
    const n = Math.min(CHUNK, runs - done);
    const seed = (baseSeed + i * 7919 + done) | 0;
    const r = fc.check(readerProperty(reader), { numRuns: n, seed });
    if (r.failed) {
      failure = `after ${done + r.numRuns} inputs (seed ${seed}, path ${r.counterexamplePath}): ${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}\n  shrunk input (${r.counterexample?.[0]?.length} bytes): ${JSON.stringify(new TextDecoder().decode(r.counterexample?.[0] ?? new Uint8Array())).slice(0, 400)}`;
      done += r.numRuns;
    } else done += n;
    if (process.stderr.isTTY) process.stderr.write(`\r${reader.name}: ${done}/${runs} (${(done / ((performance.now() - t0) / 1000)).toFixed(0)}/s)   `);
  }
  const seconds = (performance.now() - t0) / 1000;
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  summary.push({ reader: reader.name, inputs: done, seconds, failure });
  process.stdout.write(`${reader.name.padEnd(22)} ${String(done).padStart(7)} inputs  ${seconds.toFixed(1).padStart(6)} s  ${failure ? `FAILED ${failure}` : "ok"}\n`);
  if (failure) failed++;
}
const total = summary.reduce((s, r) => s + r.inputs, 0);
process.stdout.write(`${total} inputs over ${summary.length} readers; ${failed === 0 ? "no failure" : `${failed} reader(s) failed`}\n`);
process.exitCode = failed === 0 ? 0 : 1;
