// The backend registry: the one place where the kernels' implementation is chosen (as in
// TensorFlow.js's backend registry). Backends register a factory and a priority; the first kernel
// call picks the available CPU backend of highest priority (the native kernels at the addon's
// fastest ISA level, else the TypeScript reference) unless AXNN_NO_NATIVE=1 or AXNN_ISA says
// otherwise, or AXNN_DEVICE asks for a GPU; setBackend and selectDevice switch (a GPU backend is
// only ever chosen explicitly). The public kernel functions call backend() and nothing else.
import { AxnnError } from "../util/errors.js";
import { native, type IsaLevel } from "./addon.js";
import type { Backend, BackendName } from "./backend.js";
import { createNativeBackend } from "./native-backend.js";
import { typescriptBackend } from "./typescript-backend.js";
import { createWebGpuBackend, webGpuAdapter } from "./webgpu/backend.js";

/** Which implementation the kernels run on (a BackendName). */
export type KernelBackend = BackendName;

interface Registration {
  factory: () => Backend | null;
  priority: number;
  /** A CPU backend can be the default; a GPU backend is chosen explicitly (setBackend, --device). */
  device: "cpu" | "gpu";
}

const registrations = new Map<BackendName, Registration>();
// Created backends (null: the factory said unavailable), so that a factory runs at most once.
const instances = new Map<BackendName, Backend | null>();
let active: Backend | undefined;
let defaultError: AxnnError | undefined;

// Most portable first, as the addon lists them; the addon's default is the last it has.
const ISA_LEVELS: readonly IsaLevel[] = ["scalar", "neon", "avx2", "avx512bw", "avx512"];

function isIsaLevel(v: string): v is IsaLevel {
  return (ISA_LEVELS as readonly string[]).includes(v);
}

/**
 * Registers a backend under `name`: `factory` returns it, or null where it cannot run here (it
 * is called once, on first use). Higher priority wins the default among CPU backends.
 */
export function registerBackend(name: BackendName, factory: () => Backend | null, priority: number, device: "cpu" | "gpu" = "cpu"): void {
  registrations.set(name, { factory, priority, device });
  instances.delete(name);
}

/** The backend `name`, created on first use; null when it is not registered or cannot run here. */
export function findBackend(name: BackendName): Backend | null {
  if (instances.has(name)) return instances.get(name)!;
  const reg = registrations.get(name);
  const made = reg ? reg.factory() : null;
  instances.set(name, made);
  return made;
}

/** Registered backend names, highest priority first. */
export function registeredBackends(): BackendName[] {
  return [...registrations.entries()].sort((a, b) => b[1].priority - a[1].priority).map(([name]) => name);
}

/**
 * The backends that can run here, most portable first (TypeScript, native levels from scalar up,
 * then GPUs); `device` restricts to CPU or GPU backends. Creates each one (a GPU backend asks for
 * an adapter).
 */
export function availableBackends(device?: "cpu" | "gpu"): BackendName[] {
  return [...registrations.entries()]
    .filter(([, reg]) => device === undefined || reg.device === device)
    .sort((a, b) => (a[1].device === b[1].device ? a[1].priority - b[1].priority : a[1].device === "cpu" ? -1 : 1))
    .map(([name]) => name)
    .filter((name) => findBackend(name) !== null);
}

function chooseDefault(): Backend {
  const isa = process.env.AXNN_ISA;
  if (isa) {
    if (!isIsaLevel(isa)) throw new AxnnError(`unknown ISA level "${isa}"; expected avx512, avx512bw, avx2, neon or scalar`, { field: "AXNN_ISA" });
    return nativeAt(isa);
  }
  let best: { backend: Backend; priority: number } | undefined;
  for (const [name, reg] of registrations) {
    if (reg.device !== "cpu" || (best && best.priority >= reg.priority)) continue;
    const b = findBackend(name);
    if (b) best = { backend: b, priority: reg.priority };
  }
  return best?.backend ?? typescriptBackend;
}

/** The backend the kernels run on now. AXNN_ISA or AXNN_DEVICE (unknown, or unavailable) fails every call alike. */
export function backend(): Backend {
  if (active) return active;
  if (defaultError) throw defaultError;
  try {
    const device = process.env.AXNN_DEVICE;
    active = device ? findBackend(selectDeviceChoice(parseDevice(device, "AXNN_DEVICE"), "AXNN_DEVICE").backend)! : chooseDefault();
  } catch (e) {
    if (e instanceof AxnnError) defaultError = e;
    throw e;
  }
  return active;
}

/** Makes `name` the backend of every kernel call from now on; AxnnError when it is unknown or cannot run here. */
export function setBackend(name: BackendName): void {
  if (!registrations.has(name)) throw new AxnnError(`unknown kernel backend "${name}"; registered: ${registeredBackends().join(", ")}`, { field: "backend" });
  const b = findBackend(name);
  if (!b) throw new AxnnError(`kernel backend ${name} cannot run here (available: ${availableBackends().join(", ")})`, { field: "backend" });
  active = b;
  defaultError = undefined;
}

/** Where the kernels run: the CPU, a GPU, or (auto) a GPU when a hardware adapter exists, else the CPU. */
export type Device = "cpu" | "gpu" | "auto";
export const DEVICES: readonly Device[] = ["cpu", "gpu", "auto"];

export interface DeviceChoice {
  device: "cpu" | "gpu";
  backend: BackendName;
  /** Why auto runs on the CPU (no adapter, or only a software one); "" otherwise. */
  note: string;
}

/** `value` as a Device; AxnnError naming `field` otherwise. */
export function parseDevice(value: string, field = "device"): Device {
  if (!(DEVICES as readonly string[]).includes(value)) throw new AxnnError(`expected cpu, gpu or auto, got "${value}"`, { field });
  return value as Device;
}

function selectDeviceChoice(device: Device, field: string): DeviceChoice {
  if (device === "cpu") return { device, backend: chooseDefault().name, note: "" };
  const { info, why } = webGpuAdapter();
  if (device === "gpu") {
    if (!info || !findBackend("webgpu")) throw new AxnnError(`no usable GPU: ${why || "the WebGPU backend cannot run here"}`, { field });
    return { device, backend: "webgpu", note: "" };
  }
  const cpu = chooseDefault().name;
  if (!info) return { device: "cpu", backend: cpu, note: `no usable GPU (${why}); running on the CPU (${cpu})` };
  // A software adapter (SwiftShader) emulates the GPU on the CPU, far slower than the CPU kernels.
  if (info.isFallbackAdapter) return { device: "cpu", backend: cpu, note: `the only GPU adapter is a software one (${info.description}), slower than the CPU kernels; running on the CPU (${cpu}); device gpu uses it anyway` };
  return { device: "gpu", backend: "webgpu", note: "" };
}

/**
 * Makes the kernels run on `device` from now on (the library's device switch, as --device and
 * AXNN_DEVICE): cpu is the default CPU backend (AXNN_ISA honoured), gpu the WebGPU backend
 * (AxnnError naming `field` without a usable adapter), auto the GPU when a hardware adapter
 * exists and the CPU otherwise, with a note saying why.
 */
export function selectDevice(device: Device, field = "device"): DeviceChoice {
  const choice = selectDeviceChoice(device, field);
  active = findBackend(choice.backend)!;
  defaultError = undefined;
  return choice;
}

/** Which implementation the kernels run on now. */
export function kernelBackend(): KernelBackend {
  return backend().name;
}

/** The device the kernels run on now (as AXNN_DEVICE passes it on to child processes). */
export function kernelDevice(): "cpu" | "gpu" {
  return registrations.get(backend().name)?.device ?? "cpu";
}

/** ISA levels of the native kernels that this CPU runs (empty without the addon), most portable first. */
export function availableIsaLevels(): IsaLevel[] {
  return native()?.isaLevels() ?? [];
}

function nativeAt(level: IsaLevel): Backend {
  if (!isIsaLevel(level)) throw new AxnnError(`unknown ISA level "${level}"; expected avx512, avx512bw, avx2, neon or scalar`, { field: "AXNN_ISA" });
  if (!native()) throw new AxnnError(`cannot select ISA level ${level}: the native kernels are not loaded`, { field: "AXNN_ISA" });
  const levels = availableIsaLevels();
  if (!levels.includes(level)) throw new AxnnError(`ISA level ${level} is not available on this CPU (available: ${levels.join(", ")})`, { field: "AXNN_ISA" });
  return findBackend(`native-${level}`)!;
}

/**
 * Selects the native kernels at an ISA level (for tests and benchmarks; the default is the
 * fastest available): setBackend(`native-${level}`). AXNN_ISA does the same on the first call.
 */
export function setKernelIsa(level: IsaLevel): void {
  active = nativeAt(level);
  defaultError = undefined;
}

// ---- the built-in backends ----

registerBackend("typescript", () => typescriptBackend, 0);
for (const level of ISA_LEVELS) {
  // The fastest level this CPU has ranks first, as the addon's own default.
  registerBackend(`native-${level}`, () => {
    const addon = native();
    return addon && addon.isaLevels().includes(level) ? createNativeBackend(addon, level) : null;
  }, 10 + ISA_LEVELS.indexOf(level));
}
// The GPU's kernels not on the GPU run on the default CPU backend.
registerBackend("webgpu", () => createWebGpuBackend(chooseDefault()), 100, "gpu");
