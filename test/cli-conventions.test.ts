// CLI conventions shared by every command: one numeric option parser, one output option, errors
// that start with "axnn:", flags that imply each other where a new user expects it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseNumberOption } from "../src/cli/common.js";
import { AxnnError } from "../src/util/errors.js";

test("parseNumberOption: one parser and one wording for every command's numbers", () => {
  assert.equal(parseNumberOption("3", "--n", { integer: true, min: 1 }), 3);
  assert.equal(parseNumberOption("0.25", "--x", { positive: true }), 0.25);
  assert.equal(parseNumberOption("-2", "--seed", { integer: true }), -2);
  assert.equal(parseNumberOption(undefined, "--n", { integer: true }), undefined);
  const fails = (v: string, rules: Parameters<typeof parseNumberOption>[2], message: string) =>
    assert.throws(() => parseNumberOption(v, "--opt", rules), (e: unknown) => e instanceof AxnnError && e.message === `--opt: ${message}`);
  fails("0", { integer: true, positive: true }, 'expected a positive integer, got "0"');
  fails("1.5", { integer: true, positive: true }, 'expected a positive integer, got "1.5"');
  fails("0", { integer: true, min: 1 }, 'expected an integer >= 1, got "0"');
  fails("0", { positive: true }, 'expected a positive number, got "0"');
  fails("x", { integer: true }, 'expected an integer, got "x"');
  fails("", { min: 0 }, 'expected a number >= 0, got ""');
  fails("-1", { min: 0 }, 'expected a number >= 0, got "-1"');
  fails("Infinity", {}, 'expected a number, got "Infinity"');
});
