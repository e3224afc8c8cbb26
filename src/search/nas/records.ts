// What a NAS run records (src/search/nas/search.ts writes them, report.ts draws them): the
// objectives, progress, each candidate's record, the front's members and the run's report.
import type { SearchProgress } from "../engine.js";
import type { NasReferenceNetwork } from "./space.js";

export const NAS_OBJECTIVES = ["accuracy", "energy", "params", "macs"] as const;
export type NasObjective = (typeof NAS_OBJECTIVES)[number];

export interface NasProgress extends SearchProgress {
  elapsedSeconds: number;
  /** Estimated seconds left at this session's rate (null before the first result of this session). */
  secondsLeft: number | null;
}

/** A candidate's record in the archive and in front.json. */
export interface NasCandidateInfo {
  [key: string]: unknown;
  architecture: string;
  val_top1: number;
  float_val_top1: number | null;
  predicted_energy_pj: number;
  params: number;
  macs: number;
  layers: number;
  multipliers: Record<string, string>;
  stopped_early: boolean;
  inherited: number;
  parent: string | null;
  train_seconds: number;
}

export interface NasFrontMember extends NasCandidateInfo {
  key: string;
  genome: number[];
  /** ONNX file relative to the output directory; its sidecar (`.axnn.json`) and mult-config (`.mult.json`) beside it. */
  model: string;
  mult_config: string;
  test_top1: number;
  energy_pj: number;
  multiplier_pj: number;
  /**
   * The member trained from scratch with exactly the baselines' schedule (same settings and seed, no
   * parent), for a fair comparison with them: present when the member had no parent (the search
   * already trained it so; `retrained` false, the search's figures) or after --retrain-front.
   */
  from_scratch?: NasFromScratch;
}

/** A front member's figures when trained from scratch as the baselines are. */
export interface NasFromScratch {
  /** Trained again for this (the member had inherited weights); false: the search's own training had no parent. */
  retrained: boolean;
  val_top1: number;
  float_val_top1: number | null;
  test_top1: number;
  train_seconds: number;
  /** ONNX file relative to the output directory (sidecar beside it). */
  model: string;
}

export interface NasSearchReport {
  data: string;
  arch: string;
  objectives: NasObjective[];
  algorithm: string;
  predictor: string;
  budget: number;
  seed: number;
  evaluations: number;
  from_journal: number;
  hypervolume: number;
  reference_point: number[];
  members: NasFrontMember[];
  baselines: NasBaseline[];
  seconds: number;
}

/** A hand-designed network with one multiplier everywhere, scored as front members are. */
export interface NasBaseline extends NasFrontMember {
  name: NasReferenceNetwork;
  multiplier: string;
  /** Whether some front member has at least its validation top-1 and at most its predicted energy, one of them strictly. */
  dominated_by_front: boolean;
  /**
   * The fair verdict: whether some front member trained from scratch (from_scratch) has at least its
   * validation and its test top-1 at no more energy (energy model), one of the three strictly; null
   * when some front member has no from-scratch figures (it inherited weights and --retrain-front was not given).
   */
  dominated_by_front_from_scratch: boolean | null;
}
