/**
 * File operations over an in-memory tree, for tests and for embedders that serve
 * bundled assets: files, directories (implied by the files in them) and symlinks, with
 * counters a test can read (how many files are open, the largest single read).
 */
import type { FileInfo, FileOps, OpenFile } from "../../poll/file-ops.js";

interface Node {
  kind: "file" | "symlink";
  data: Uint8Array;
  mtimeMs: number;
  /** Symlink target, absolute or relative to the link's directory. */
  target: string;
}

/** Symlinks followed at most this many times, as ELOOP in a real filesystem. */
const MAX_LINKS = 16;

export class MemoryFileOps implements FileOps {
  private readonly nodes = new Map<string, Node>();
  /** Files opened and not yet closed. */
  openFiles = 0;
  /** Calls to read(), and the largest length any single one returned. */
  reads = 0;
  largestRead = 0;

  /** `files`: path → content (a string is UTF-8). Every path is absolute, "/"-separated. */
  constructor(files: Record<string, string | Uint8Array> = {}, mtimeMs = Date.UTC(2024, 0, 1)) {
    for (const [path, content] of Object.entries(files)) this.setFile(path, content, mtimeMs);
  }

  setFile(path: string, content: string | Uint8Array, mtimeMs = Date.UTC(2024, 0, 1)): this {
    const data = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    this.nodes.set(normalise(path), { kind: "file", data, mtimeMs, target: "" });
    return this;
  }

  symlink(path: string, target: string): this {
    this.nodes.set(normalise(path), { kind: "symlink", data: new Uint8Array(0), mtimeMs: 0, target });
    return this;
  }

  remove(path: string): this {
    this.nodes.delete(normalise(path));
    return this;
  }

  stat(path: string): FileInfo | null {
    const real = this.realpath(path);
    if (real === null) return null;
    const node = this.nodes.get(real);
    if (node) return { size: node.data.length, mtimeMs: node.mtimeMs, kind: "file" };
    return { size: 0, mtimeMs: 0, kind: "directory" };
  }

  open(path: string): OpenFile | null {
    const real = this.realpath(path);
    const node = real === null ? undefined : this.nodes.get(real);
    if (!node) return null;
    this.openFiles++;
    let closed = false;
    const data = node.data;
    return {
      info: { size: data.length, mtimeMs: node.mtimeMs, kind: "file" },
      read: (position, length) => {
        if (closed) throw new Error("read after close");
        const out = data.slice(position, position + length);
        this.reads++;
        this.largestRead = Math.max(this.largestRead, out.length);
        return out;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.openFiles--;
      },
    };
  }

  realpath(path: string): string | null {
    let parts = normalise(path).split("/").filter(Boolean);
    let links = 0;
    for (let i = 0; i < parts.length; i++) {
      const prefix = "/" + parts.slice(0, i + 1).join("/");
      const node = this.nodes.get(prefix);
      if (node?.kind === "symlink") {
        if (++links > MAX_LINKS) return null;
        const base = node.target.startsWith("/") ? node.target : `/${parts.slice(0, i).join("/")}/${node.target}`;
        parts = [...resolveDots(base.split("/").filter(Boolean)), ...parts.slice(i + 1)];
        i = -1;
        continue;
      }
      if (node?.kind === "file" && i < parts.length - 1) return null;
      if (!node && !this.isDirectory(prefix)) return null;
    }
    return "/" + parts.join("/");
  }

  private isDirectory(path: string): boolean {
    if (path === "/") return true;
    const prefix = path + "/";
    for (const key of this.nodes.keys()) if (key.startsWith(prefix)) return true;
    return false;
  }
}

function normalise(path: string): string {
  return "/" + resolveDots(path.split("/").filter(Boolean)).join("/");
}

function resolveDots(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) {
    if (p === ".") continue;
    if (p === "..") out.pop();
    else out.push(p);
  }
  return out;
}
