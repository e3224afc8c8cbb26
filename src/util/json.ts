// Reading user JSON files: syntax and schema errors become AxnnErrors naming the file and the field.
import type { z } from "zod";
import { AxnnError } from "./errors.js";

/** JSON.parse, a syntax error becoming an AxnnError naming the file. */
export function parseJson(text: string, file?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AxnnError(`not valid JSON (${(e as Error).message})`, { file });
  }
}

/**
 * `value` as `schema` reads it; otherwise an AxnnError for the first issue, naming the file and the
 * issue's path ("(top level)" for the root). `describe` may word an issue better than zod does
 * (undefined: zod's message).
 */
export function checkSchema<T>(schema: z.ZodType<T>, value: unknown, file: string | undefined, describe?: (issue: z.core.$ZodIssue, path: string) => string | undefined): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.map(String).join(".");
  throw new AxnnError(describe?.(issue, path) ?? issue.message, { file, field: path || "(top level)" });
}
