// Optimizers (SGD with momentum, Adam) and learning-rate schedules.
import { AxnnError } from "../util/errors.js";
import type { Param } from "./params.js";

export interface SgdConfig {
  kind: "sgd";
  momentum: number;
  weightDecay: number;
  nesterov: boolean;
}

export interface AdamConfig {
  kind: "adam";
  beta1: number;
  beta2: number;
  eps: number;
  /** L2 penalty added to the gradient (Adam's original form, not AdamW's decoupled decay). */
  weightDecay: number;
}

export type OptimizerConfig = SgdConfig | AdamConfig;

export const DEFAULT_SGD: SgdConfig = { kind: "sgd", momentum: 0.9, weightDecay: 5e-4, nesterov: false };
export const DEFAULT_ADAM: AdamConfig = { kind: "adam", beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

/** Optimizer state: per parameter one (SGD velocity) or two (Adam moments) arrays, and the step count. */
export interface OptimizerState {
  step: number;
  slots: Map<string, Float64Array[]>;
}

export function newOptimizerState(config: OptimizerConfig, params: Param[]): OptimizerState {
  const k = config.kind === "sgd" ? 1 : 2;
  return { step: 0, slots: new Map(params.map((p) => [p.name, Array.from({ length: k }, () => new Float64Array(p.data.length))])) };
}

/**
 * One update of every parameter from its accumulated gradient. Weight decay applies to
 * conv/dense weights only (not to biases or BatchNorm parameters).
 * SGD (PyTorch form): v = mu v + g; w -= lr (nesterov ? g + mu v : v), g including decay.
 * Adam: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, w -= lr m^ / (sqrt(v^) + eps).
 */
export function optimizerStep(config: OptimizerConfig, state: OptimizerState, params: Param[], lr: number): void {
  state.step++;
  const t = state.step;
  for (const p of params) {
    const slots = state.slots.get(p.name);
    if (!slots) throw new AxnnError(`no optimizer state for parameter "${p.name}"`, { field: "optimizer" });
    const wd = p.isWeight ? config.weightDecay : 0;
    const w = p.data, grad = p.grad;
    if (config.kind === "sgd") {
      const v = slots[0]!, mu = config.momentum;
      for (let i = 0; i < w.length; i++) {
        const g = grad[i]! + wd * w[i]!;
        const vi = mu * v[i]! + g;
        v[i] = vi;
        w[i] = w[i]! - lr * (config.nesterov ? g + mu * vi : vi);
      }
    } else {
      const m = slots[0]!, v = slots[1]!;
      const { beta1: b1, beta2: b2, eps } = config;
      const c1 = 1 - b1 ** t, c2 = 1 - b2 ** t;
      for (let i = 0; i < w.length; i++) {
        const g = grad[i]! + wd * w[i]!;
        const mi = b1 * m[i]! + (1 - b1) * g;
        const vi = b2 * v[i]! + (1 - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
      }
    }
  }
}

export interface ScheduleConfig {
  kind: "constant" | "step" | "cosine";
  /** step: multiply by gamma every stepEpochs epochs. */
  stepEpochs?: number;
  gamma?: number;
  /** Linear warm-up from lr/warmup-steps to lr over this many epochs (fractional progress). */
  warmupEpochs?: number;
  /** cosine: the rate reached at the end; default 0. */
  minLr?: number;
}

/**
 * Learning rate of batch `batch` (of `batches`) in epoch `epoch` (0-based) of a run of `epochs`
 * epochs, base rate `lr`. Warm-up rises linearly to lr over the first warmupEpochs (the first
 * batch already gets a small positive rate); step schedules change at epoch boundaries; cosine
 * (PyTorch's CosineAnnealingLR, per batch) starts at lr and approaches minLr at the end.
 */
export function learningRate(schedule: ScheduleConfig, lr: number, epoch: number, batch: number, batches: number, epochs: number): number {
  const warm = schedule.warmupEpochs ?? 0;
  const done = epoch + (batch + 1) / batches;
  if (warm > 0 && done <= warm) return (lr * done) / warm;
  switch (schedule.kind) {
    case "constant":
      return lr;
    case "step": {
      const every = schedule.stepEpochs ?? Math.max(1, Math.floor(epochs / 3));
      return lr * (schedule.gamma ?? 0.1) ** Math.floor(epoch / every);
    }
    case "cosine": {
      const min = schedule.minLr ?? 0;
      const span = Math.max(epochs - warm, 1e-9);
      const t = Math.min(Math.max((epoch + batch / batches - warm) / span, 0), 1);
      return min + 0.5 * (lr - min) * (1 + Math.cos(Math.PI * t));
    }
  }
}
