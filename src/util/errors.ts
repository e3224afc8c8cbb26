/**
 * Errors caused by what a user gave us (a file, a flag, a name). The CLI prints
 * `message` alone, without a stack trace, and exits non-zero; anything else that
 * escapes is a bug in axnn and is printed with its stack.
 */
export class AxnnError extends Error {
  /** File the problem is in, when there is one. */
  readonly file?: string;
  /** 1-based line in `file`, when known. */
  readonly line?: number;
  /** Field, node or option the problem is in, when known. */
  readonly field?: string;

  constructor(message: string, where: { file?: string; line?: number; field?: string } = {}) {
    const prefix = where.file ? `${where.file}${where.line !== undefined ? `:${where.line}` : ""}: ` : "";
    const fieldPart = where.field ? `${where.field}: ` : "";
    super(`${prefix}${fieldPart}${message}`);
    this.name = "AxnnError";
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
  }
}

export function isAxnnError(e: unknown): e is AxnnError {
  return e instanceof AxnnError;
}
