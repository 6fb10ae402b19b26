/**
 * Cutting one engine step into micro-batches, by sequence (a sequence's tokens stay together: its new
 * K/V rows and its attention belong to one pass). Contiguous groups balanced by token count, like
 * splitting a transfer into roughly equal segments; never an empty group, so m is at most the number of
 * sequences in the step.
 */
export function splitIntoMicroBatches<T extends { numNewTokens: number }>(
  entries: readonly T[],
  m: number,
): T[][] {
  const count = Math.max(1, Math.min(m, entries.length));
  const total = entries.reduce((sum, e) => sum + e.numNewTokens, 0);
  const groups: T[][] = [];
  let current: T[] = [];
  let done = 0;
  entries.forEach((entry, i) => {
    current.push(entry);
    done += entry.numNewTokens;
    const groupsLeft = count - groups.length - 1; // groups still to fill after this one
    const entriesLeft = entries.length - i - 1;
    const reachedShare = done >= (total * (groups.length + 1)) / count;
    if (groupsLeft > 0 && (reachedShare || entriesLeft === groupsLeft)) {
      groups.push(current);
      current = [];
    }
  });
  if (current.length > 0) groups.push(current);
  return groups;
}
