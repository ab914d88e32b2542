/**
 * The file-operations interface (lws's lws_plat_file_ops): how FILE mounts read files.
 * The context never touches a filesystem itself; a loop supplies one (the Node loop:
 * node:fs), a test an in-memory tree, an embedder whatever holds its files (an archive,
 * a bundle).
 *
 * Synchronous and bounded per call, as lws's fops are: every call does one small,
 * bounded piece of work (a stat, an open, one read of at most a chunk), so a service
 * pass stays short, and a file is streamed one chunk per writeable service, never read
 * whole. Synchronous because the context's service is synchronous and a local disk
 * answers a 64 KiB read in microseconds; readiness-based file I/O would need a
 * descriptor per read and a second readiness path through every loop for no gain on
 * local files. An implementation over slow storage should cache or prefetch.
 */

export interface FileInfo {
  size: number;
  /** Modification time, ms since the epoch (for ETag and Last-Modified). */
  mtimeMs: number;
  kind: "file" | "directory" | "other";
}

export interface OpenFile {
  /** What the file was when opened (fstat): what is served is consistent with it. */
  readonly info: FileInfo;
  /** Up to `length` bytes from `position`; fewer only at the end of the file. */
  read(position: number, length: number): Uint8Array;
  close(): void;
}

export interface FileOps {
  /** What is at `path`, following symlinks; null when nothing is. */
  stat(path: string): FileInfo | null;
  /** Open a regular file for reading; null when it cannot be opened. */
  open(path: string): OpenFile | null;
  /** The canonical path, symlinks resolved; null when it does not exist. Used to keep symlinks inside a mount's root. */
  realpath(path: string): string | null;
}

/** Join a root directory and decoded path segments with "/". Segments were checked to hold no separator. */
export function joinPath(root: string, segments: readonly string[]): string {
  const base = root.length > 1 && (root.endsWith("/") || root.endsWith("\\")) ? root.slice(0, -1) : root;
  return segments.length === 0 ? base : `${base}/${segments.join("/")}`;
}

/** Is `path` the directory `root` or inside it (both canonical)? */
export function isWithin(root: string, path: string): boolean {
  if (path === root) return true;
  if (root.endsWith("/") || root.endsWith("\\")) return path.startsWith(root);
  return path.startsWith(root + "/") || path.startsWith(root + "\\");
}
