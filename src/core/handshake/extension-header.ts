/**
 * The Sec-WebSocket-Extensions header (RFC 6455 §9.1):
 *
 *   extension-list = 1#extension
 *   extension      = extension-token *( ";" extension-param )
 *   extension-param = token [ "=" (token | quoted-string) ]
 *
 * A quoted value must be a token once unquoted. Whitespace is allowed around ";" and
 * "=" (the RFC's grammar has implied linear whitespace).
 *
 * Parsing is per element: one bad offer must not cost the others, because a server
 * declines an offer it cannot read and goes on with the rest (RFC 7692 §5). So the
 * parser returns one result per element, either an {@link ExtensionOffer} or an
 * {@link ExtensionParseError}, in the order received, and never fails as a whole.
 */
import { usage } from "../errors.js";
import { isToken, TCHAR } from "../http/headers.js";

export interface ExtensionOffer {
  /** The extension token, ASCII-lower-cased so negotiators can compare exactly. */
  name: string;
  /**
   * Parameters by ASCII-lower-cased name, in received order: the unquoted value, or
   * `true` for a parameter given without "=".
   */
  params: Map<string, string | true>;
}

/** An element that could not be parsed. `name` is set when its extension token was readable. */
export interface ExtensionParseError {
  name?: string;
  error: string;
}

export type ExtensionElement = ExtensionOffer | ExtensionParseError;

export function isExtensionOffer(e: ExtensionElement): e is ExtensionOffer {
  return !("error" in e);
}

const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/**
 * Split one header value at commas outside quoted-strings. An unterminated quote runs
 * to the end of the value, so it spoils only its own element.
 */
function splitElements(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (quoted) {
      if (c === BACKSLASH) i++;
      else if (c === DQUOTE) quoted = false;
    } else if (c === DQUOTE) {
      quoted = true;
    } else if (c === 0x2c) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

function parseElement(text: string): ExtensionElement {
  let i = 0;
  const n = text.length;
  const skipOws = (): void => {
    while (i < n && isOws(text.charCodeAt(i))) i++;
  };
  const readToken = (): string => {
    const from = i;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c > 0xff || TCHAR[c] !== 1) break;
      i++;
    }
    return text.slice(from, i);
  };
  const describe = (): string =>
    i >= n ? "the end of the element" : `${JSON.stringify(text[i])} at offset ${i}`;

  skipOws();
  const name = readToken().toLowerCase();
  if (name === "") {
    return { error: `extension element ${JSON.stringify(text.trim())} does not start with an extension token` };
  }
  const fail = (error: string): ExtensionParseError => ({ name, error: `extension "${name}": ${error}` });
  const params = new Map<string, string | true>();
  skipOws();
  while (i < n) {
    if (text.charCodeAt(i) !== 0x3b) return fail(`expected ";" but found ${describe()}`);
    i++;
    skipOws();
    const param = readToken().toLowerCase();
    if (param === "") return fail(`expected a parameter name but found ${describe()}`);
    skipOws();
    let value: string | true = true;
    if (i < n && text.charCodeAt(i) === 0x3d) {
      i++;
      skipOws();
      if (i < n && text.charCodeAt(i) === DQUOTE) {
        i++;
        let unquoted = "";
        let closed = false;
        while (i < n) {
          const c = text.charCodeAt(i);
          if (c === DQUOTE) {
            closed = true;
            i++;
            break;
          }
          if (c === BACKSLASH && i + 1 < n) {
            unquoted += text[i + 1];
            i += 2;
            continue;
          }
          unquoted += text[i];
          i++;
        }
        if (!closed) return fail(`unterminated quoted value of parameter "${param}"`);
        if (!isToken(unquoted)) {
          return fail(`value ${JSON.stringify(unquoted)} of parameter "${param}" is not a token once unquoted`);
        }
        value = unquoted;
      } else {
        value = readToken();
        if (value === "") return fail(`parameter "${param}" has "=" but no value`);
      }
      skipOws();
    }
    if (params.has(param)) return fail(`parameter "${param}" appears more than once`);
    params.set(param, value);
  }
  return { name, params };
}

/**
 * Parse every Sec-WebSocket-Extensions line of a message into one result per element,
 * in order. Empty list elements (", ,") are not elements and are skipped, as the
 * list rule of RFC 7230 §7 requires.
 */
export function parseExtensionHeader(values: readonly string[]): ExtensionElement[] {
  const out: ExtensionElement[] = [];
  for (const value of values) {
    for (const element of splitElements(value)) {
      if (element.trim() === "") continue;
      out.push(parseElement(element));
    }
  }
  return out;
}

/**
 * One element as it goes on the wire: `name; p1; p2=value`. Values are written bare,
 * so each must be a token; RFC 6455 §9.1 requires that of quoted values too, so a
 * non-token value could never be read by a conforming peer and is refused here.
 */
export function formatExtension(offer: ExtensionOffer): string {
  if (!isToken(offer.name)) {
    throw usage("INVALID_ARGUMENT", `extension name ${JSON.stringify(offer.name)} is not a token`);
  }
  let out = offer.name;
  for (const [param, value] of offer.params) {
    if (!isToken(param)) {
      throw usage(
        "INVALID_ARGUMENT",
        `parameter name ${JSON.stringify(param)} of extension "${offer.name}" is not a token`,
      );
    }
    if (value === true) {
      out += `; ${param}`;
    } else if (isToken(value)) {
      out += `; ${param}=${value}`;
    } else {
      throw usage(
        "INVALID_ARGUMENT",
        `value ${JSON.stringify(value)} of parameter "${param}" of extension "${offer.name}" is not a token`,
      );
    }
  }
  return out;
}

/** Several elements as one header value, in the given order. */
export function formatExtensionHeader(offers: readonly ExtensionOffer[]): string {
  return offers.map(formatExtension).join(", ");
}
