/**
 * Which mount serves a path: the longest mountpoint that is a prefix of it on a segment
 * boundary ("/docs" serves "/docs" and "/docs/a", not "/docsx"), as lws does. Pure.
 */

export interface MountHit<M> {
  mount: M;
  /** The path after the mountpoint: "" (the mountpoint itself) or "/..." */
  rest: string;
}

/** A mountpoint as compared: without a trailing "/", except the root "/". */
export function normaliseMountpoint(mountpoint: string): string {
  return mountpoint.length > 1 && mountpoint.endsWith("/") ? mountpoint.slice(0, -1) : mountpoint;
}

export function matchMount<M extends { readonly mountpoint: string }>(path: string, mounts: readonly M[]): MountHit<M> | null {
  let best: MountHit<M> | null = null;
  let bestLength = -1;
  for (const mount of mounts) {
    const mp = normaliseMountpoint(mount.mountpoint);
    let rest: string;
    if (mp === "/") rest = path;
    else if (path === mp || path.startsWith(mp + "/")) rest = path.slice(mp.length);
    else continue;
    if (mp.length > bestLength) {
      best = { mount, rest };
      bestLength = mp.length;
    }
  }
  return best;
}
