export { compilePlan } from "./compile.js";
export { plannedRunner } from "./runner.js";
export { ExecutionPlan, type ArithmeticSpec, type PlanOptions, type PlanProfile } from "./plan.js";
