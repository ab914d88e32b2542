/**
 * The short HTML page an HTTP error is answered with (lws_return_http_status): the
 * status, an optional message, and a link to a stylesheet when the vhost has one
 * (lws's /error.css convention).
 */
import { statusText } from "./status.js";

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function errorPage(status: number, message: string | undefined, stylesheet: string | null): Buffer {
  const title = `${status} ${statusText(status)}`;
  const link = stylesheet ? `<link rel="stylesheet" href="${escapeHtml(stylesheet)}">` : "";
  const detail = message ? `<p>${escapeHtml(message)}</p>` : "";
  return Buffer.from(
    `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>${link}</head>` +
      `<body><h1>${escapeHtml(title)}</h1>${detail}</body></html>\n`,
    "utf8",
  );
}
