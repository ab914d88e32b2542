/** Reason phrases for status lines: the handshake's table, plus the 1xx and 2xx it never needed. */
import { reasonPhrase } from "../handshake/server-handshake.js";

const SUCCESS: Readonly<Record<number, string>> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
};

export function statusText(status: number): string {
  return SUCCESS[status] ?? (status >= 200 && status < 300 ? "Success" : reasonPhrase(status));
}

/** Statuses whose responses never have a body (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number): boolean {
  return (status >= 100 && status < 200) || status === 204 || status === 304;
}
