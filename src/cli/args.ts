/** Small helpers for the CLI's arguments: numbers that say what was wrong. */
export class CliUsageError extends Error {
  override name = "CliUsageError";
}

export function intOption(value: string | undefined, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new CliUsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

export const loops = ["node", "rx", "manual"] as const;
export type LoopName = (typeof loops)[number];

export function loopOption(value: string | undefined): LoopName {
  const name = value ?? "node";
  if (!(loops as readonly string[]).includes(name)) {
    throw new CliUsageError(`--loop must be one of ${loops.join(", ")}, got "${name}"`);
  }
  return name as LoopName;
}
