import type { Command } from "commander";

/** `axnn mult ...`: the approximate-multiplier library. */
export function registerMult(program: Command): void {
  const mult = program.command("mult").description("approximate multipliers: import, generate, characterise, list");
  void mult;
}
