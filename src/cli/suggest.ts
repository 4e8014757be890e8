/** Edit distance with adjacent transpositions (optimal string alignment), as commander uses. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The candidates nearest to `word` (at most 3 edits, and more alike than not), best first:
 * `agnets` → `agents`. None when nothing is close.
 */
export function suggestNearest(word: string, candidates: readonly string[]): string[] {
  let best = 4;
  let nearest: string[] = [];
  for (const candidate of new Set(candidates)) {
    if (candidate.length <= 1) continue;
    const distance = editDistance(word, candidate);
    const length = Math.max(word.length, candidate.length);
    if ((length - distance) / length <= 0.4) continue;
    if (distance < best) {
      best = distance;
      nearest = [candidate];
    } else if (distance === best) nearest.push(candidate);
  }
  return nearest.sort((a, b) => a.localeCompare(b));
}

/** " — did you mean agents?", or nothing. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const nearest = suggestNearest(word, candidates);
  if (nearest.length === 0) return '';
  return ` — did you mean ${nearest.length === 1 ? nearest[0] : `one of ${nearest.join(', ')}`}?`;
}
