/**
 * Energy of a whole network: every conv, depthwise and dense layer becomes a Timeloop problem;
 * a mapping is searched once per distinct problem shape (and cached on disk), then every layer is
 * evaluated with its own multiplier. A multiplier only scales the compute unit's energy per MAC,
 * which does not depend on the mapping, so one mapping per shape serves every multiplier.
 *
 * The parts: network-layers.ts (layers from models, their problems), mapping-cache.ts (the
 * on-disk cache), network-plan.ts (one search per shape), network-evaluation.ts (per-layer
 * evaluation and totals), network-multipliers.ts (multiplier assignments as MAC-energy factors).
 */
export * from "./network-layers.js";
export * from "./mapping-cache.js";
export * from "./network-plan.js";
export * from "./network-evaluation.js";
export * from "./network-multipliers.js";
