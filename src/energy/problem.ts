import { AxnnError } from "../util/errors.js";
import { checkKeys, expectArray, expectObject, expectPositiveInt, expectString, isObject, readYamlFile, type YamlObject } from "./yaml.js";

/** One term of a data-space coordinate: coefficient x problem dimension. */
export interface ProjectionTerm {
  dim: number;
  coef: number;
}

/** A tensor of the layer; each coordinate is a sum of terms (e.g. W = Wstride*P + Wdilation*R). */
export interface DataSpace {
  name: string;
  projection: ProjectionTerm[][];
  /** Outputs: written (accumulated) rather than only read. */
  readWrite: boolean;
}

/** A layer in Timeloop's terms: a perfect loop nest over `dims` and the tensors it touches. */
export interface Problem {
  name: string;
  dims: string[];
  bounds: number[];
  dataSpaces: DataSpace[];
  /** Multiply-accumulates: the product of all bounds. */
  macs: number;
}

export interface ConvSpec {
  R: number; S: number; P: number; Q: number; C: number; M: number; N?: number;
  Wstride?: number; Hstride?: number; Wdilation?: number; Hdilation?: number;
}

const CONV_DIMS = ["C", "M", "R", "S", "N", "P", "Q"];

/** Timeloop's conv2D shape (Weights[C,M,R,S], Inputs[N,C,W,H], Outputs[N,M,Q,P]). A dense layer is R=S=P=Q=1. */
export function convProblem(spec: ConvSpec, name = "conv2D"): Problem {
  const d = (n: string) => CONV_DIMS.indexOf(n);
  const bounds = CONV_DIMS.map((n) => (n === "N" ? spec.N ?? 1 : (spec as unknown as Record<string, number>)[n]!));
  const ws = spec.Wstride ?? 1, hs = spec.Hstride ?? 1, wd = spec.Wdilation ?? 1, hd = spec.Hdilation ?? 1;
  return finish(name, CONV_DIMS, bounds, [
    { name: "Weights", readWrite: false, projection: [[{ dim: d("C"), coef: 1 }], [{ dim: d("M"), coef: 1 }], [{ dim: d("R"), coef: 1 }], [{ dim: d("S"), coef: 1 }]] },
    { name: "Inputs", readWrite: false, projection: [[{ dim: d("N"), coef: 1 }], [{ dim: d("C"), coef: 1 }], [{ dim: d("R"), coef: wd }, { dim: d("P"), coef: ws }], [{ dim: d("S"), coef: hd }, { dim: d("Q"), coef: hs }]] },
    { name: "Outputs", readWrite: true, projection: [[{ dim: d("N"), coef: 1 }], [{ dim: d("M"), coef: 1 }], [{ dim: d("Q"), coef: 1 }], [{ dim: d("P"), coef: 1 }]] },
  ]);
}

/** Depthwise convolution: one filter per channel (no M); Timeloop expresses it with this shape. */
export function depthwiseProblem(spec: Omit<ConvSpec, "M">, name = "depthwise"): Problem {
  const dims = ["C", "R", "S", "N", "P", "Q"];
  const d = (n: string) => dims.indexOf(n);
  const bounds = dims.map((n) => (n === "N" ? spec.N ?? 1 : (spec as unknown as Record<string, number>)[n]!));
  const ws = spec.Wstride ?? 1, hs = spec.Hstride ?? 1, wd = spec.Wdilation ?? 1, hd = spec.Hdilation ?? 1;
  return finish(name, dims, bounds, [
    { name: "Weights", readWrite: false, projection: [[{ dim: d("C"), coef: 1 }], [{ dim: d("R"), coef: 1 }], [{ dim: d("S"), coef: 1 }]] },
    { name: "Inputs", readWrite: false, projection: [[{ dim: d("N"), coef: 1 }], [{ dim: d("C"), coef: 1 }], [{ dim: d("R"), coef: wd }, { dim: d("P"), coef: ws }], [{ dim: d("S"), coef: hd }, { dim: d("Q"), coef: hs }]] },
    { name: "Outputs", readWrite: true, projection: [[{ dim: d("N"), coef: 1 }], [{ dim: d("C"), coef: 1 }], [{ dim: d("Q"), coef: 1 }], [{ dim: d("P"), coef: 1 }]] },
  ]);
}

function finish(name: string, dims: string[], bounds: number[], dataSpaces: DataSpace[]): Problem {
  bounds.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1) throw new AxnnError(`dimension ${dims[i]} must be a positive integer, got ${b}`);
  });
  return { name, dims, bounds, dataSpaces, macs: bounds.reduce((a, b) => a * b, 1) };
}

/** Sizes of the instance's tensors (bounding boxes, as Timeloop counts them). */
export function dataSpaceSizes(problem: Problem): number[] {
  return problem.dataSpaces.map((ds) =>
    ds.projection.reduce((acc, terms) => acc * (terms.reduce((s, t) => s + t.coef * (problem.bounds[t.dim]! - 1), 0) + 1), 1),
  );
}

// Instance keys that describe the input image but do not enter the loop nest.
const INFORMATIONAL_INSTANCE_KEYS = ["H", "W", "Hpad", "Wpad", "G"];

/** Parses a Timeloop problem YAML (v0.3 or v0.4: `problem: {shape, instance}` or v0.3 keys beside `shape`). */
export function parseProblem(doc: unknown, file: string): Problem {
  const top = expectObject(doc, file, "(top level)");
  checkKeys(top, ["problem"], file, "(top level)");
  const p = expectObject(top.problem, file, "problem");
  const shapeRaw = p.shape;
  let instance: YamlObject;
  if (p.instance !== undefined) {
    checkKeys(p, ["version", "shape", "instance"], file, "problem");
    instance = expectObject(p.instance, file, "problem.instance");
  } else {
    instance = Object.fromEntries(Object.entries(p).filter(([k]) => k !== "shape" && k !== "version"));
  }
  const shape = shapeRaw === undefined ? undefined : expectObject(shapeRaw, file, "problem.shape");

  let dims: string[];
  const coefficients = new Map<string, number>();
  let rawSpaces: { name: string; projection: unknown; readWrite: boolean }[] = [];
  let name = "conv2D";
  if (shape === undefined) {
    dims = CONV_DIMS;
    for (const c of ["Wstride", "Hstride", "Wdilation", "Hdilation"]) coefficients.set(c, 1);
  } else {
    checkKeys(shape, ["name", "dimensions", "coefficients", "data_spaces", "data-spaces"], file, "problem.shape");
    name = shape.name === undefined ? name : expectString(shape.name, file, "problem.shape.name");
    dims = expectArray(shape.dimensions, file, "problem.shape.dimensions").map((d, i) => expectString(d, file, `problem.shape.dimensions[${i}]`));
    const coefs = shape.coefficients === undefined ? [] : expectArray(shape.coefficients, file, "problem.shape.coefficients");
    coefs.forEach((c, i) => {
      const o = expectObject(c, file, `problem.shape.coefficients[${i}]`);
      checkKeys(o, ["name", "default"], file, `problem.shape.coefficients[${i}]`);
      coefficients.set(expectString(o.name, file, `problem.shape.coefficients[${i}].name`), o.default === undefined ? 1 : expectPositiveInt(o.default, file, `problem.shape.coefficients[${i}].default`));
    });
    const spacesKey = shape.data_spaces !== undefined ? "data_spaces" : "data-spaces";
    rawSpaces = expectArray(shape[spacesKey], file, `problem.shape.${spacesKey}`).map((s, i) => {
      const o = expectObject(s, file, `problem.shape.${spacesKey}[${i}]`);
      checkKeys(o, ["name", "projection", "read_write", "read-write"], file, `problem.shape.${spacesKey}[${i}]`);
      return { name: expectString(o.name, file, `problem.shape.${spacesKey}[${i}].name`), projection: o.projection, readWrite: (o.read_write ?? o["read-write"]) === true };
    });
  }

  const bounds = dims.map(() => 1);
  for (const [k, v] of Object.entries(instance)) {
    const field = `problem.instance.${k}`;
    const di = dims.indexOf(k);
    if (di >= 0) bounds[di] = expectPositiveInt(v, file, field);
    else if (coefficients.has(k)) coefficients.set(k, expectPositiveInt(v, file, field));
    else if (INFORMATIONAL_INSTANCE_KEYS.includes(k)) continue;
    else if (k === "densities") {
      // Timeloop's processed problems carry `densities: {}` (dense); sparse tensors are not modelled.
      if (Object.keys(expectObject(v, file, field)).length > 0) throw new AxnnError("tensor densities (sparse workloads) are not supported; only dense problems", { file, field });
    }
    else throw new AxnnError(`unknown key "${k}" (expected a dimension ${dims.join("/")} or a coefficient ${[...coefficients.keys()].join("/")})`, { file, field });
  }

  if (shape === undefined) {
    const get = (n: string) => bounds[dims.indexOf(n)]!;
    return convProblem({ C: get("C"), M: get("M"), R: get("R"), S: get("S"), N: get("N"), P: get("P"), Q: get("Q"), Wstride: coefficients.get("Wstride"), Hstride: coefficients.get("Hstride"), Wdilation: coefficients.get("Wdilation"), Hdilation: coefficients.get("Hdilation") }, name);
  }

  const dataSpaces: DataSpace[] = rawSpaces.map((s, i) => {
    const field = `problem.shape.data_spaces[${i}].projection`;
    const coords = expectArray(s.projection, file, field);
    const projection = coords.map((coord, j) =>
      expectArray(coord, file, `${field}[${j}]`).map((term, k) => {
        const parts = expectArray(term, file, `${field}[${j}][${k}]`).map((x) => expectString(x, file, `${field}[${j}][${k}]`));
        const dimName = parts[0]!;
        const dim = dims.indexOf(dimName);
        if (dim < 0) throw new AxnnError(`"${dimName}" is not a dimension (${dims.join(", ")})`, { file, field: `${field}[${j}][${k}]` });
        let coef = 1;
        for (const c of parts.slice(1)) {
          const v = coefficients.get(c);
          if (v === undefined) throw new AxnnError(`"${c}" is not a coefficient`, { file, field: `${field}[${j}][${k}]` });
          coef *= v;
        }
        return { dim, coef };
      }),
    );
    return { name: s.name, projection, readWrite: s.readWrite };
  });
  if (dataSpaces.filter((d) => d.readWrite).length !== 1) throw new AxnnError("exactly one data space must be read_write (the outputs)", { file, field: "problem.shape.data_spaces" });
  return finish(name, dims, bounds, dataSpaces);
}

export function loadProblem(file: string): Problem {
  return parseProblem(readYamlFile(file), file);
}

export function isProblemDoc(doc: unknown): boolean {
  return isObject(doc) && isObject(doc.problem);
}
