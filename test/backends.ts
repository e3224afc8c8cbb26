// Running a test body on every kernel backend this machine has (as TensorFlow.js runs each test
// on every registered backend): the TypeScript reference, the native kernels at each ISA level
// the CPU runs, and WebGPU where an adapter exists. Each file that uses it prints, at its end,
// which backends it covered.
import { after, type TestContext } from "node:test";
import { availableBackends, kernelBackend, setBackend, type BackendName } from "../src/kernels/index.js";

const covered = new Set<BackendName>();

// Registered when a test file imports this module, so it runs once, after all of the file's tests
// (silent in files that only use onBackend).
after(() => {
  if (covered.size === 0) return;
  const missing = availableBackends().filter((b) => !covered.has(b));
  console.log(`kernel backends covered: ${[...covered].join(", ") || "none"}${missing.length ? ` (not covered: ${missing.join(", ")})` : ""}`);
});

/** The backends a body runs on: every available one (CPU and GPU), or those of one device. */
export function testBackends(device?: "cpu" | "gpu"): BackendName[] {
  return availableBackends(device);
}

/** Runs `fn` with backend `name` selected, restoring the one in use before (also when it throws). */
export function onBackend<T>(name: BackendName, fn: () => T): T {
  const before = kernelBackend();
  setBackend(name);
  try {
    return fn();
  } finally {
    setBackend(before);
  }
}

/**
 * Runs `body` once per available backend, each as a subtest named after it, with that backend
 * selected; the backend in use before is restored afterwards (also when a body fails).
 */
export async function onEveryBackend(
  t: TestContext, body: (backend: BackendName) => void | Promise<void>, options: { device?: "cpu" | "gpu" } = {},
): Promise<BackendName[]> {
  const before = kernelBackend();
  const names = testBackends(options.device);
  try {
    for (const name of names) {
      await t.test(name, async () => {
        setBackend(name);
        await body(name);
        covered.add(name);
      });
    }
  } finally {
    setBackend(before);
  }
  return names;
}
