/**
 * The handshake's headers, kept for RxConnection.headers after the connection has let
 * go of them (it drops them once ESTABLISHED returns, as lws does). A HeaderList holds
 * three arrays and three strings per field (name, lower-cased name, value): ~1 KB for a
 * browser's upgrade request, on every idle connection. Kept here they are one flat
 * string, "name:value\n" per field, and become a HeaderList again when first read.
 *
 * The encoding cannot be ambiguous: a received name is an HTTP token (no ":" and no line
 * break) and a value has no line break; a list that breaks this (one built by hand) is
 * kept as it is.
 *
 * A protocol can keep fewer (RxProtocolOptions.keepHeaders): none, or the fields it names.
 */
import { HeaderList } from "../../core/http/headers.js";

/** Headers as kept: the flat string, or the list itself when it cannot be flattened. */
export type KeptHeaders = string | HeaderList;

/** Which fields to keep: all, none, or those whose lower-cased name is in the set. */
export type HeaderSelection = boolean | ReadonlySet<string>;

export function headerSelection(keep: boolean | readonly string[] | undefined): HeaderSelection {
  if (keep === undefined || typeof keep === "boolean") return keep ?? true;
  return new Set(keep.map((name) => name.toLowerCase()));
}

export function keepHeaders(list: HeaderList | null, which: HeaderSelection = true): KeptHeaders {
  if (list === null || which === false) return "";
  if (which !== true) list = selected(list, which);
  const parts: string[] = [];
  for (const [name, value] of list) {
    if (name.includes(":") || name.includes("\n") || value.includes("\n")) return list;
    parts.push(name, ":", value, "\n");
  }
  // join() makes one flat string (concatenation would keep every piece alive in a rope).
  return parts.join("");
}

export function restoreHeaders(kept: KeptHeaders): HeaderList {
  if (typeof kept !== "string") return kept;
  const list = new HeaderList();
  let start = 0;
  while (start < kept.length) {
    const end = kept.indexOf("\n", start);
    const colon = kept.indexOf(":", start);
    list.append(kept.slice(start, colon), kept.slice(colon + 1, end));
    start = end + 1;
  }
  return list;
}

function selected(list: HeaderList, which: ReadonlySet<string>): HeaderList {
  const kept = new HeaderList();
  for (const [name, value] of list) if (which.has(name.toLowerCase())) kept.append(name, value);
  return kept;
}
