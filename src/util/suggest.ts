/** Levenshtein distance (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

/** Up to three of `names` close to `ref` (case-insensitive edit distance at most max(2, len/4)), closest first. */
export function suggestions(ref: string, names: readonly string[]): string[] {
  const scored = [...new Set(names)].map((n) => ({ n, d: editDistance(ref.toLowerCase(), n.toLowerCase()) }));
  return scored.filter((s) => s.d <= Math.max(2, Math.floor(ref.length / 4))).sort((a, b) => a.d - b.d).slice(0, 3).map((s) => s.n);
}
