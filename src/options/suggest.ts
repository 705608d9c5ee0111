// "Did you mean …?" for a name that is not known (an option, an environment variable, a command): the candidates at
// Damerau-Levenshtein distance ≤ 2 (a typo, a transposition), else the one candidate the name is a prefix of.

/** Edit distance counting a swap of two adjacent characters as one edit (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => (d[i] as number[])[j] as number;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest candidates (several only when they tie), or none when nothing is close. */
export function closest(name: string, candidates: readonly string[]): string[] {
  let best = 3;
  let found: string[] = [];
  for (const c of candidates) {
    const distance = editDistance(name.toLowerCase(), c.toLowerCase());
    if (distance < best) [best, found] = [distance, [c]];
    else if (distance === best) found.push(c);
  }
  if (found.length > 0) return found;
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(name.toLowerCase()));
  return prefixed.length === 1 ? prefixed : [];
}

/** "; did you mean X?" (or "X or Y"), or "" when nothing is close. */
export function didYouMean(name: string, candidates: readonly string[], quote = (s: string) => s): string {
  const found = closest(name, candidates);
  return found.length === 0 ? "" : `; did you mean ${found.map(quote).join(" or ")}?`;
}
