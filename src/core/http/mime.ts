/** Content types by file extension, for serving files; a small table of what the web uses. */

const TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  map: "application/json",
  txt: "text/plain; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  ico: "image/x-icon",
  bmp: "image/bmp",
  woff: "font/woff",
  woff2: "font/woff2",
  ttf: "font/ttf",
  otf: "font/otf",
  wasm: "application/wasm",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  mp3: "audio/mpeg",
  ogg: "audio/ogg",
  wav: "audio/wav",
  mp4: "video/mp4",
  webm: "video/webm",
  manifest: "application/manifest+json",
  webmanifest: "application/manifest+json",
};

/** Served when nothing is known: the browser must not guess (and sniff) a type. */
export const DEFAULT_MIME_TYPE = "application/octet-stream";

/**
 * The content type for a file name, from its extension (case-insensitive). `extra`
 * (extension → type, without the dot) is consulted first.
 */
export function mimeTypeOf(fileName: string, extra?: Readonly<Record<string, string>>): string {
  const slash = fileName.lastIndexOf("/");
  const base = fileName.slice(slash + 1);
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return DEFAULT_MIME_TYPE;
  const ext = base.slice(dot + 1).toLowerCase();
  return (extra && Object.hasOwn(extra, ext) ? extra[ext] : undefined) ?? (Object.hasOwn(TYPES, ext) ? TYPES[ext]! : DEFAULT_MIME_TYPE);
}
