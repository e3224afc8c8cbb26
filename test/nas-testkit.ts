// A tiny `axnn search nas` run shared by the NAS tests: 6x6 two-class images, six candidates of seconds each.
import { join } from "node:path";

export const CLI = join(process.cwd(), "dist", "src", "cli", "main.js");

export function nasArgs(data: string, out: string, extra: string[] = []): string[] {
  return [
    CLI, "search", "nas", "--data", data, "--mults", "exact,drum_k4_u8x8,trunc_k6c_u8x8", "--budget", "6", "--population", "3",
    "--epochs", "1", "--qat-epochs", "1", "--train-samples", "64", "--val-samples", "64", "--test-samples", "64", "--batch-size", "16",
    "--energy-evaluations", "30", "--predictor", "sum", "--baselines", "none", "--jobs", "2", "--inherit", "--seed", "3", "-o", out, ...extra,
  ];
}
