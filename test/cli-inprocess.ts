import { Command } from "commander";

/**
 * Runs one CLI command in this process (faster than spawning node) and returns what it
 * printed on stdout. `register` adds the command, e.g. registerEnergy; errors propagate.
 */
export async function runCommand(register: (program: Command) => void, args: string[]): Promise<string> {
  const program = new Command();
  program.exitOverride();
  program.configureOutput({ writeErr: () => {} });
  register(program);
  let out = "";
  const original = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(["node", "axnn", ...args]);
  } finally {
    process.stdout.write = original;
  }
  return out;
}
