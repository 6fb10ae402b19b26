/**
 * "Did you mean ...?" for a mistyped flag or command: the closest known name by edit distance, offered
 * only when it is close (like git's "The most similar command is").
 */

/** Levenshtein distance (insert, delete, substitute = 1 each). */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return prev[b.length]!;
}

/** The known name closest to `typed`, if within a third of its length (at least 2 edits), else undefined. */
export function closest(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    const d = editDistance(typed, name);
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(typed.length / 3));
  return bestDistance <= limit ? best : undefined;
}
