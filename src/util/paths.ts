import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Root of the installed package (dist/src/util -> ../../..). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** A file of the package's built-in data/ directory. */
export function dataPath(...parts: string[]): string {
  return join(PACKAGE_ROOT, "data", ...parts);
}

/** The user's axnn directory: $AXNN_HOME, else ~/.axnn. */
export function axnnHome(): string {
  return process.env.AXNN_HOME && process.env.AXNN_HOME.length > 0 ? resolve(process.env.AXNN_HOME) : join(homedir(), ".axnn");
}
