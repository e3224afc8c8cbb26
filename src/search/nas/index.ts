/**
 * Architecture search with approximate multipliers (`axnn search nas`): the genome and search space
 * (space.ts), networks built from it (network.ts), candidate training and scoring (candidate.ts, in a
 * process each: candidate-process.ts), beam search (beam.ts), the whole search with its outputs
 * (search.ts, report.ts).
 */
export * from "./space.js";
export * from "./network.js";
export { evaluateCandidate, prepareCandidateData, inheritWeights, nasSplits, datasetSubset, candidateArithmetic, type CandidateSettings, type CandidateResult, type CandidateData } from "./candidate.js";
export { evaluateInChildProcess, type CandidateJob } from "./candidate-process.js";
export { beamSearch, beamOf, type BeamSearchOptions } from "./beam.js";
export { runNasSearch, nasSpaceFor, checkNasOptions, SearchEnergy, NAS_OBJECTIVES, type NasObjective, type NasSearchOptions, type NasSearchReport, type NasFrontMember, type NasFromScratch, type NasBaseline, type NasCandidateInfo, type NasProgress, type CandidateEvaluator } from "./search.js";
