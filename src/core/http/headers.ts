/**
 * HTTP header fields: the list as received, and the RFC 7230 grammar rules that the
 * parser, the handshake and the response writers all need to agree on.
 */
import { usage } from "../errors.js";

/**
 * tchar of RFC 7230 §3.2.6, indexed by byte. A table rather than a regex because the
 * head parser tests bytes before they become strings.
 */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

function isBlankCode(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Is `s` a non-empty RFC 7230 token? */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return false;
  }
  return true;
}

/**
 * Where in a header value written by us is the first character that must not be there?
 * -1 when none. Everything a peer could read as a line end or a control is refused, and
 * so is anything above U+00FF, which has no single-byte form on the wire.
 */
export function invalidValueCharAt(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return i;
  }
  return -1;
}

/**
 * Throw a usage error unless (name, value) can be written as one header line.
 * A CR or LF in a value would let whoever controls it add headers or a body of its own
 * (response splitting), so this runs on every header wsloop writes.
 */
export function assertHeaderField(name: string, value: string): void {
  if (!isToken(name)) {
    throw usage("INVALID_ARGUMENT", `header name ${JSON.stringify(name)} is not an HTTP token`);
  }
  const at = invalidValueCharAt(value);
  if (at >= 0) {
    const code = value.charCodeAt(at);
    const what =
      code === 0x0d ? "a CR" : code === 0x0a ? "an LF" : `the character U+${code.toString(16).padStart(4, "0")}`;
    throw usage(
      "INVALID_ARGUMENT",
      `value of header "${name}" contains ${what} at index ${at}; header values must be single-line text without control characters`,
    );
  }
}

/**
 * Ordered (name, value) pairs as received, names in their received case. Lookups are
 * case-insensitive. Lists are small (bounded by the parser's header count), so a linear
 * scan beats keeping an index up to date.
 */
export class HeaderList implements Iterable<[string, string]> {
  readonly #names: string[] = [];
  readonly #lowerNames: string[] = [];
  readonly #values: string[] = [];

  constructor(entries?: Iterable<readonly [string, string]>) {
    if (entries) for (const [n, v] of entries) this.append(n, v);
  }

  /** Add a field at the end, keeping any earlier field of the same name. */
  append(name: string, value: string): void {
    this.#names.push(name);
    this.#lowerNames.push(name.toLowerCase());
    this.#values.push(value);
  }

  get size(): number {
    return this.#names.length;
  }

  has(name: string): boolean {
    return this.#lowerNames.includes(name.toLowerCase());
  }

  /**
   * The field's value; repeated fields joined with ", " as RFC 7230 §3.2.2 allows.
   * Set-Cookie is the one field that cannot be joined that way (its values contain
   * commas), so for it this returns the first value; use getAll.
   */
  get(name: string): string | undefined {
    const lower = name.toLowerCase();
    let joined: string | undefined;
    for (let i = 0; i < this.#lowerNames.length; i++) {
      if (this.#lowerNames[i] !== lower) continue;
      const value = this.#values[i]!;
      if (joined === undefined) {
        if (lower === "set-cookie") return value;
        joined = value;
      } else {
        joined += ", " + value;
      }
    }
    return joined;
  }

  /** Every value of the field, one per received line, in order. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.#lowerNames.length; i++) {
      if (this.#lowerNames[i] === lower) out.push(this.#values[i]!);
    }
    return out;
  }

  /**
   * The field read as a comma-separated list of case-insensitive tokens (Connection,
   * Upgrade): split across all its lines, trimmed of spaces and tabs, lower-cased, empty
   * elements dropped. Read in place by index: it runs on every request (the upgrade check)
   * and the usual value is a single token.
   */
  tokens(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.#lowerNames.length; i++) {
      if (this.#lowerNames[i] !== lower) continue;
      const value = this.#values[i]!;
      let from = 0;
      while (from <= value.length) {
        let comma = value.indexOf(",", from);
        if (comma === -1) comma = value.length;
        let start = from;
        let end = comma;
        while (start < end && isBlankCode(value.charCodeAt(start))) start++;
        while (end > start && isBlankCode(value.charCodeAt(end - 1))) end--;
        if (end > start) out.push(value.slice(start, end).toLowerCase());
        from = comma + 1;
      }
    }
    return out;
  }

  *entries(): IterableIterator<[string, string]> {
    for (let i = 0; i < this.#names.length; i++) yield [this.#names[i]!, this.#values[i]!];
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
