/**
 * How a requested name (SNI, or a Host header) selects a vhost, as lws does it: strip
 * any :port, then an exact name wins; failing that, the nearest parent domain does
 * ("cats.abc.com" is served by a vhost named "abc.com", or one named "*.abc.com").
 * Pure: names in, index out.
 */

/** The host part of a Host header or SNI name, lower-cased, without port or trailing dot. */
export function hostOnly(requested: string): string {
  let host = requested.trim().toLowerCase();
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end > 0 ? host.slice(1, end) : host;
  }
  const colon = host.indexOf(":");
  // More than one colon and no brackets: a bare IPv6 address, no port to strip.
  if (colon >= 0 && host.indexOf(":", colon + 1) < 0) host = host.slice(0, colon);
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** Index of the vhost name that serves `requested`, or -1 when none does. */
export function matchVhostName(requested: string, names: readonly string[]): number {
  const host = hostOnly(requested);
  if (host === "") return -1;
  const normalised = names.map((n) => n.toLowerCase());
  const exact = normalised.indexOf(host);
  if (exact >= 0) return exact;
  // Walk up the parents: a.b.c.com → b.c.com → c.com (a bare top-level label is never a match).
  let dot = host.indexOf(".");
  while (dot >= 0) {
    const parent = host.slice(dot + 1);
    if (parent.indexOf(".") < 0) break;
    const plain = normalised.indexOf(parent);
    if (plain >= 0) return plain;
    const wildcard = normalised.indexOf(`*.${parent}`);
    if (wildcard >= 0) return wildcard;
    dot = host.indexOf(".", dot + 1);
  }
  return -1;
}
