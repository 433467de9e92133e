import type * as z from "zod";

/** Edits (insert, delete or replace a character, swap two adjacent ones) that turn `a` into `b`. */
export function editDistance(a: string, b: string): number {
  // rows[i][j]: the distance between the first i characters of a and the first j of b.
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate a misspelt word most likely meant: the nearest one, compared case-insensitively with `-` read
 * as `_`, if it is at most 2 edits and a third of the word away; undefined when none is that close.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const normal = (text: string) => text.toLowerCase().replace(/-/g, "_");
  const limit = Math.min(2, Math.max(1, Math.floor(word.length / 3)));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(normal(word), normal(candidate));
    if (distance <= limit && (!best || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

interface Def {
  type: string;
  in?: z.core.$ZodType;
  innerType?: z.core.$ZodType;
  element?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
}

function def(schema: z.core.$ZodType): Def {
  return schema._zod.def as Def;
}

/** The schema without the wrappers that do not change its shape: transforms, optional, defaults. */
function unwrap(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  for (;;) {
    const { type, in: input, innerType } = def(current);
    if (type === "pipe" && input) current = input;
    else if (innerType) current = innerType;
    else return current;
  }
}

/** The keys the mapping at `path` may hold (`["sets", 0]`: a set's keys); empty when it is not a mapping. */
export function keysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.core.$ZodType | undefined = unwrap(schema);
  for (const key of path) {
    const { element, shape } = def(current);
    current = typeof key === "number" ? element : shape?.[String(key)];
    if (!current) return [];
    current = unwrap(current);
  }
  return Object.keys(def(current).shape ?? {});
}
