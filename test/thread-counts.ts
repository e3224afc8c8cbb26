// Runs a kernel script under several native thread-pool sizes and returns its digests. The pool's
// size is fixed when the addon loads (AXNN_THREADS), so each count runs in its own process.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";

/**
 * `body` is ES module code that sees `k` (src/kernels), `rand(n)` (seeded Float32Array in
 * [-1, 1)) and `add(typedArray)` (feeds the digest). Returns one sha256 digest per thread count,
 * after checking that each process really ran with that many threads.
 */
export function digestsPerThreadCount(body: string, threadCounts: string[] = ["1", "2", "3"], env: Record<string, string> = {}): string[] {
  const index = new URL("../src/kernels/index.js", import.meta.url).href;
  const script = `
    const k = await import(${JSON.stringify(index)});
    const { createHash } = await import("node:crypto");
    let s = 7;
    const rand = (n) => Float32Array.from({ length: n }, () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 1073741824 - 1; });
    const h = createHash("sha256");
    const add = (a) => h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    ${body}
    console.log(k.kernelThreads() + " " + h.digest("hex"));`;
  return threadCounts.map((threads) => {
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { env: { ...process.env, ...env, AXNN_THREADS: threads }, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const [count, digest] = r.stdout.trim().split(" ");
    assert.equal(count, threads);
    assert.match(digest!, /^[0-9a-f]{64}$/);
    return digest!;
  });
}
