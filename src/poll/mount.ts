/**
 * Mounts (lws_http_mount): parts of a vhost's URL space served a given way. The
 * longest mountpoint that prefixes a request's path wins (src/core/http/mount-match.ts).
 */
import { usage } from "../core/errors.js";
import type { CachePolicy } from "../core/http/cache-control.js";
import { normaliseMountpoint } from "../core/http/mount-match.js";

interface MountBase {
  /** Where in the URL space, e.g. "/" or "/docs". */
  mountpoint: string;
}

/** LWSMPRO_FILE: serve a directory. */
export interface FileMount extends MountBase, CachePolicy {
  kind: "file";
  /** The directory, as the context's file operations name it. */
  origin: string;
  /** Served for a directory (lws's `def`). Default "index.html". */
  defaultFile?: string;
  /** Serve `name.gz` with Content-Encoding: gzip when it exists and the client accepts gzip. Default false. */
  precompressed?: boolean;
  /** Extra content types by extension (without the dot), consulted first. */
  mimeTypes?: Readonly<Record<string, string>>;
}

/** LWSMPRO_CALLBACK: hand the URL space to a protocol (HTTP_BIND_PROTOCOL, HTTP, …, HTTP_DROP_PROTOCOL). */
export interface CallbackMount extends MountBase {
  kind: "callback";
  /** The protocol's name. */
  origin: string;
}

/** LWSMPRO_REDIR_HTTP / LWSMPRO_REDIR_HTTPS: redirect to `scheme://origin` plus the rest of the path. */
export interface RedirectMount extends MountBase {
  kind: "redirect-http" | "redirect-https";
  /** Host and optional path prefix, e.g. "example.com" or "example.com/new". */
  origin: string;
  /** Default 302 (lws's choice); 301 / 307 / 308 for permanent or method-preserving redirects. */
  status?: 301 | 302 | 303 | 307 | 308;
}

export type MountDefinition = FileMount | CallbackMount | RedirectMount;

/** Check a vhost's mounts once, at construction: misuse is an error at the call that made it. */
export function resolveMounts(vhostName: string, protocolNames: readonly string[], mounts: readonly MountDefinition[]): MountDefinition[] {
  const seen = new Set<string>();
  return mounts.map((mount) => {
    const where = `vhost "${vhostName}": mount "${mount.mountpoint}"`;
    if (typeof mount.mountpoint !== "string" || !mount.mountpoint.startsWith("/")) {
      throw usage("INVALID_ARGUMENT", `${where}: a mountpoint starts with "/"`);
    }
    const mp = normaliseMountpoint(mount.mountpoint);
    if (seen.has(mp)) throw usage("INVALID_ARGUMENT", `${where}: two mounts at the same mountpoint`);
    seen.add(mp);
    if (typeof mount.origin !== "string" || mount.origin === "") throw usage("INVALID_ARGUMENT", `${where} needs an origin`);
    switch (mount.kind) {
      case "callback":
        if (!protocolNames.includes(mount.origin)) {
          throw usage("UNKNOWN_PROTOCOL", `${where} names protocol "${mount.origin}", which the vhost does not have`);
        }
        break;
      case "file":
        if (mount.defaultFile !== undefined && (mount.defaultFile === "" || /[/\\]/.test(mount.defaultFile))) {
          throw usage("INVALID_ARGUMENT", `${where}: defaultFile must be a file name`);
        }
        break;
      case "redirect-http":
      case "redirect-https":
        if (/[\s]/.test(mount.origin)) throw usage("INVALID_ARGUMENT", `${where}: the redirect origin contains whitespace`);
        break;
      default:
        throw usage("INVALID_ARGUMENT", `${where}: unknown kind ${JSON.stringify((mount as { kind: unknown }).kind)}`);
    }
    return { ...mount, mountpoint: mp };
  });
}
