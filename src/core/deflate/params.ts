/**
 * The parameters of permessage-deflate (RFC 7692 §7.1) as values: reading an offer or a
 * response element into a {@link DeflateParams}, and what a connection does once they
 * are agreed ({@link DeflateAgreement}).
 *
 * The four parameters and their rules:
 *
 * - `server_no_context_takeover`, `client_no_context_takeover` (§7.1.1): no value.
 * - `server_max_window_bits` (§7.1.2.1): a value is required, in offers and responses.
 * - `client_max_window_bits` (§7.1.2.2): a value is optional in an offer (bare, it says
 *   "I support this parameter") and required in a response.
 *
 * Window values are "a decimal integer value without leading zeroes between 8 to 15,
 * inclusive". A quoted value counts once unquoted (RFC 6455 §9.1); the header parser
 * has already unquoted it and refused duplicates.
 */
import type { ExtensionOffer } from "../handshake/extension-header.js";

export const EXTENSION_NAME = "permessage-deflate";
export const MIN_WINDOW_BITS = 8;
export const MAX_WINDOW_BITS = 15;

/** One element's parameters, read but not yet judged against anything. */
export interface DeflateParams {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** null: absent. */
  serverMaxWindowBits: number | null;
  /** null: absent; true: present without a value (offers only). */
  clientMaxWindowBits: number | true | null;
}

/** What both ends are bound by once the handshake is done. */
export interface DeflateAgreement {
  /** The server compresses each message with a fresh context. */
  serverNoContextTakeover: boolean;
  /** The client compresses each message with a fresh context. */
  clientNoContextTakeover: boolean;
  /** Largest LZ77 window the server compresses with (8-15). */
  serverMaxWindowBits: number;
  /** Largest LZ77 window the client compresses with (8-15). */
  clientMaxWindowBits: number;
}

/** Is `text` a window size as RFC 7692 spells it? Returns it as a number, or null. */
export function parseWindowBits(text: string | true): number | null {
  if (text === true || !/^[1-9][0-9]?$/.test(text)) return null;
  const bits = Number(text);
  return bits >= MIN_WINDOW_BITS && bits <= MAX_WINDOW_BITS ? bits : null;
}

/**
 * Reads one element's parameters. `kind` decides whether a bare client_max_window_bits
 * is allowed (offer) or not (response). Returns the reason it cannot be read instead of
 * throwing: a server declines such an offer, a client fails on such a response.
 */
export function readParams(element: ExtensionOffer, kind: "offer" | "response"): DeflateParams | string {
  const out: DeflateParams = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: null,
    clientMaxWindowBits: null,
  };
  for (const [name, value] of element.params) {
    switch (name) {
      case "server_no_context_takeover":
      case "client_no_context_takeover":
        if (value !== true) return `${name} takes no value, got ${JSON.stringify(value)}`;
        if (name === "server_no_context_takeover") out.serverNoContextTakeover = true;
        else out.clientNoContextTakeover = true;
        break;
      case "server_max_window_bits": {
        const bits = parseWindowBits(value);
        if (bits === null) return `server_max_window_bits needs a value from 8 to 15, got ${describe(value)}`;
        out.serverMaxWindowBits = bits;
        break;
      }
      case "client_max_window_bits": {
        if (value === true && kind === "offer") {
          out.clientMaxWindowBits = true;
          break;
        }
        const bits = parseWindowBits(value);
        if (bits === null) {
          return `client_max_window_bits ${kind === "offer" ? "takes no value or" : "in a response needs"} a value from 8 to 15, got ${describe(value)}`;
        }
        out.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter "${name}"`;
    }
  }
  return out;
}

function describe(value: string | true): string {
  return value === true ? "none" : JSON.stringify(value);
}

/** The element that states `p` on the wire, parameters in the RFC's order. */
export function formatParams(p: DeflateParams): ExtensionOffer {
  const params = new Map<string, string | true>();
  if (p.serverNoContextTakeover) params.set("server_no_context_takeover", true);
  if (p.clientNoContextTakeover) params.set("client_no_context_takeover", true);
  if (p.serverMaxWindowBits !== null) params.set("server_max_window_bits", String(p.serverMaxWindowBits));
  if (p.clientMaxWindowBits !== null) {
    params.set("client_max_window_bits", p.clientMaxWindowBits === true ? true : String(p.clientMaxWindowBits));
  }
  return { name: EXTENSION_NAME, params };
}

/** The agreement a response element (already checked) states; absent windows are 15. */
export function agreementOf(response: DeflateParams): DeflateAgreement {
  return {
    serverNoContextTakeover: response.serverNoContextTakeover,
    clientNoContextTakeover: response.clientNoContextTakeover,
    serverMaxWindowBits: response.serverMaxWindowBits ?? MAX_WINDOW_BITS,
    clientMaxWindowBits: typeof response.clientMaxWindowBits === "number" ? response.clientMaxWindowBits : MAX_WINDOW_BITS,
  };
}
