import { compareKeys } from "../scan/entry.js";

export interface Keyed {
  key: string;
}

type Sources<S> = { [K in keyof S]: AsyncIterable<S[K]> | Iterable<S[K]> };

/** One key of a merge: the item each source had at that key, if any. */
export type Merged<S> = { key: string } & Partial<S>;

/**
 * Merge-joins sources that are each sorted by key (UTF-8 byte order) into one sorted stream, yielding for each
 * key the items that the sources hold at it. Only one item per source is held at a time, so memory stays
 * bounded however long the sources are. A source out of order is a bug and throws.
 */
export async function* mergeByKey<S extends Record<string, Keyed>>(
  sources: Sources<S>,
): AsyncGenerator<Merged<S>> {
  const names = Object.keys(sources) as (keyof S)[];
  const iterators = new Map<keyof S, AsyncIterator<Keyed> | Iterator<Keyed>>();
  const heads = new Map<keyof S, Keyed>();

  // A synchronous source (the journal) is stepped without a promise or a turn of the event loop.
  const step = (name: keyof S, next: IteratorResult<Keyed>) => {
    const previous = heads.get(name);
    if (next.done) {
      heads.delete(name);
      iterators.delete(name);
      return;
    }
    if (previous && compareKeys(previous.key, next.value.key) >= 0) {
      throw new Error(`source ${String(name)} is out of order: ${previous.key} then ${next.value.key}`);
    }
    heads.set(name, next.value);
  };
  const advance = (name: keyof S): Promise<void> | undefined => {
    const iterator = iterators.get(name);
    if (!iterator) return undefined;
    const next = iterator.next();
    if (next instanceof Promise) return next.then((result) => step(name, result));
    step(name, next);
    return undefined;
  };

  for (const name of names) {
    const source = sources[name] as AsyncIterable<Keyed> | Iterable<Keyed>;
    iterators.set(
      name,
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : (source as Iterable<Keyed>)[Symbol.iterator](),
    );
    await advance(name);
  }

  try {
    while (heads.size > 0) {
      let smallest: string | undefined;
      for (const head of heads.values()) {
        if (smallest === undefined || compareKeys(head.key, smallest) < 0) smallest = head.key;
      }
      const merged = { key: smallest } as Merged<S>;
      for (const name of names) {
        const head = heads.get(name);
        if (!head || head.key !== smallest) continue;
        (merged as Record<keyof S, Keyed>)[name] = head;
        const stepping = advance(name);
        if (stepping) await stepping;
      }
      yield merged;
    }
  } finally {
    for (const iterator of iterators.values()) await iterator.return?.();
  }
}
