/**
 * A small set kept without an array while it has one member. A connection usually has
 * exactly one of each — one inbox consumer, one send feed, one close listener (an echo's
 * sendAll is all three) — and an array for one member costs ~56 bytes per connection.
 *
 * A set is replaced, never changed in place, so whoever iterates one sees the members as
 * they were when it started, however they come and go meanwhile. Members are objects,
 * never arrays.
 */
export type Few<T extends object> = T | readonly T[] | null;

export function fewCount<T extends object>(few: Few<T>): number {
  return few === null ? 0 : Array.isArray(few) ? few.length : 1;
}

/** The member at `index` (0 ≤ index < fewCount(few)). */
export function fewAt<T extends object>(few: Few<T>, index: number): T {
  return (Array.isArray(few) ? few[index] : few) as T;
}

export function fewHas<T extends object>(few: Few<T>, item: T): boolean {
  return few === item || (Array.isArray(few) && few.includes(item));
}

export function fewWith<T extends object>(few: Few<T>, item: T): Few<T> {
  if (few === null) return item;
  // A literal of the exact length: push() onto [] would make room for 17.
  return Array.isArray(few) ? few.concat([item]) : [few as T, item];
}

export function fewWithout<T extends object>(few: Few<T>, item: T): Few<T> {
  if (few === item) return null;
  if (!Array.isArray(few)) return few;
  const list = few as readonly T[];
  const i = list.indexOf(item);
  if (i < 0) return few;
  if (list.length === 2) return list[1 - i]!;
  return list.filter((_, j) => j !== i);
}
