/**
 * Cache-Control for served files, from a mount's cache options as lws computes it
 * (lws_http_mount cache_max_age / cache_reusable / cache_revalidate / cache_intermediaries).
 */

export interface CachePolicy {
  /** Seconds a cache may reuse the file without asking. 0 = no caching. */
  cacheMaxAge?: number;
  /** The file may be stored and reused at all. */
  cacheReusable?: boolean;
  /** Caches must revalidate once it is stale. */
  cacheRevalidate?: boolean;
  /** Shared caches (proxies, CDNs) may keep it too: "public" rather than "private". */
  cacheIntermediaries?: boolean;
}

export function cacheControl(policy: CachePolicy): string {
  const maxAge = policy.cacheMaxAge ?? 0;
  if (!(maxAge > 0) || !policy.cacheReusable) return "no-store";
  const scope = policy.cacheIntermediaries ? "public" : "private";
  return `${policy.cacheRevalidate ? "must-revalidate, " : ""}${scope}, max-age=${Math.floor(maxAge)}`;
}
