/**
 * The real filesystem as file operations for FILE mounts (node:fs, synchronous and
 * bounded per call: one stat, one open, one read of at most a chunk; see
 * src/poll/file-ops.ts for why synchronous).
 */
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync, constants, type Stats } from "node:fs";
import type { FileInfo, FileOps, OpenFile } from "../../poll/file-ops.js";

function infoOf(stats: Stats): FileInfo {
  return { size: stats.size, mtimeMs: stats.mtimeMs, kind: stats.isFile() ? "file" : stats.isDirectory() ? "directory" : "other" };
}

export const nodeFileOps: FileOps = {
  stat(path) {
    try {
      return infoOf(statSync(path));
    } catch {
      return null;
    }
  },
  open(path): OpenFile | null {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO that slipped past the regular-file check must not hang the loop.
      fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch {
      return null;
    }
    let info: FileInfo;
    try {
      info = infoOf(fstatSync(fd));
    } catch {
      closeSync(fd);
      return null;
    }
    if (info.kind !== "file") {
      closeSync(fd);
      return null;
    }
    let closed = false;
    return {
      info,
      read(position, length) {
        const buffer = Buffer.allocUnsafe(length);
        const n = readSync(fd, buffer, 0, length, position);
        return buffer.subarray(0, n);
      },
      close() {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  },
  realpath(path) {
    try {
      return realpathSync(path);
    } catch {
      return null;
    }
  },
};
