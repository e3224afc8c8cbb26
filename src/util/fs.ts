import { mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, basename, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { AxnnError } from "./errors.js";

/**
 * Creates `dir` (and its parents) for output. A path in the way that is a file, not a
 * directory, or a directory we may not write, is the user's mistake: a one-line AxnnError
 * naming the path, not an EEXIST/ENOTDIR stack trace.
 */
export function ensureOutputDirectory(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTDIR") {
      const blocker = firstNonDirectory(dir);
      throw new AxnnError(`${blocker ?? dir} is a file, but a directory is needed here`, { file: dir });
    }
    throw new AxnnError(`cannot create the output directory: ${code ?? String(e)}`, { file: dir });
  }
}

/** The first existing path on the way to `dir` that is not a directory (undefined if none). */
function firstNonDirectory(dir: string): string | undefined {
  const chain: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of chain) {
    try {
      if (!statSync(p).isDirectory()) return p;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Writes a file so that readers never see it half-written: the data goes to a
 * temporary file in the same directory, which is then renamed over the target.
 * A target that is an existing directory, or a parent that is a file, is refused with an
 * AxnnError naming the path (exit 1 in the CLI), and nothing is left behind.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Absent (the usual case) or unreadable: the write below says which.
  }
  if (isDir) throw new AxnnError("is a directory, but a file is needed here", { file: path });
  const dir = dirname(path);
  ensureOutputDirectory(dir);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EISDIR") throw new AxnnError("is a directory, but a file is needed here", { file: path });
    if (code !== undefined) throw new AxnnError(`cannot write: ${code}`, { file: path });
    throw e;
  }
}

/**
 * Checks, before long work starts, that `path` can later be written as a file: not an
 * existing directory, and no file where one of its parent directories should be.
 */
export function checkOutputFile(path: string): void {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // Absent: fine.
  }
  if (isDir) throw new AxnnError("is a directory, but a file is needed here", { file: path });
  const blocker = firstNonDirectory(dirname(path));
  if (blocker !== undefined) throw new AxnnError(`${blocker} is a file, but a directory is needed here`, { file: path });
}
