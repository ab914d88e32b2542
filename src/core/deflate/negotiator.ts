/**
 * permessage-deflate's half of the opening handshake, both sides (RFC 7692 §5, §7.1),
 * as an {@link ExtensionNegotiator} a protocol lists in `extensions`.
 *
 * Server: the client's offers are tried in its order and the first acceptable one is
 * answered. An offer that cannot be read (unknown parameter, a value where none
 * belongs, a window outside 8-15, a missing value) is declined, never a reason to fail
 * the handshake (§5); if all are declined the connection runs without compression.
 *
 * Client: one offer is made from the options; the server's answer must be one the RFC
 * allows for it, or the connection fails (§5: "If ... the client MUST _Fail the
 * WebSocket Connection_").
 */
import { usage } from "../errors.js";
import type { ExtensionOffer } from "../handshake/extension-header.js";
import type { ExtensionNegotiator, NegotiatedExtension } from "../handshake/extension.js";
import { nativeZlibAvailable } from "./native-zlib.js";
import { checkTuning, definedTuning, type DeflateTuning } from "./options.js";
import {
  EXTENSION_NAME,
  MAX_WINDOW_BITS,
  agreementOf,
  formatParams,
  readParams,
  type DeflateAgreement,
  type DeflateParams,
} from "./params.js";

/**
 * The options of one endpoint, named as the RFC names the parameters: each says what a
 * server grants or demands and what a client asks for.
 */
export interface PerMessageDeflateOptions extends Partial<Omit<DeflateTuning, "windowBits">> {
  /**
   * Server: always answer server_no_context_takeover, so it keeps no compressor between
   * messages. Client: ask the server for that.
   */
  serverNoContextTakeover?: boolean;
  /**
   * Server: always answer client_no_context_takeover, so the client may not take over
   * and the server keeps no inflater between messages. Client: offer it; it is then
   * honoured whatever the server answers.
   */
  clientNoContextTakeover?: boolean;
  /**
   * Server: the largest window it compresses with (answered when smaller than 15 or
   * when the client named the parameter). Client: ask the server to compress with at
   * most this window. 8-15.
   */
  serverMaxWindowBits?: number;
  /**
   * Server: the largest window it lets the client compress with; the client is only
   * bound by it if its offer named client_max_window_bits (§7.1.2.2). Client: the
   * largest window it compresses with, offered as client_max_window_bits=N; unset, the
   * parameter is offered bare, so the server may choose. 8-15.
   */
  clientMaxWindowBits?: number;
}

function checkWindow(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 8 || value > MAX_WINDOW_BITS)) {
    throw usage("INVALID_ARGUMENT", `permessage-deflate ${name} must be an integer from 8 to 15, got ${String(value)}`);
  }
}

export class PerMessageDeflate implements ExtensionNegotiator {
  readonly name = EXTENSION_NAME;
  readonly rsvMask = 4;
  readonly options: Readonly<PerMessageDeflateOptions>;

  constructor(options: PerMessageDeflateOptions = {}) {
    checkWindow("serverMaxWindowBits", options.serverMaxWindowBits);
    checkWindow("clientMaxWindowBits", options.clientMaxWindowBits);
    checkTuning(options);
    this.options = { ...options };
  }

  /** The tuning this endpoint starts every connection with. */
  get tuning(): Partial<DeflateTuning> {
    return definedTuning(this.options);
  }

  // ---- server ----------------------------------------------------------------------------

  accept(offers: ExtensionOffer[]): { response: ExtensionOffer; params: ExtensionOffer } | null {
    if (!nativeZlibAvailable()) return null;
    for (const offer of offers) {
      const params = readParams(offer, "offer");
      if (typeof params === "string") continue; // declined (§5); the next offer gets its turn
      const response = formatParams(this.answer(params));
      return { response, params: response };
    }
    return null;
  }

  /**
   * The response to a readable offer. Everything the client asked for is granted (a
   * server can always compress with less context or a smaller window), narrowed by
   * what this server demands.
   */
  private answer(offer: DeflateParams): DeflateParams {
    const o = this.options;
    const serverBits = Math.min(offer.serverMaxWindowBits ?? MAX_WINDOW_BITS, o.serverMaxWindowBits ?? MAX_WINDOW_BITS);
    let clientBits: number | null = null;
    if (offer.clientMaxWindowBits !== null) {
      // Only named when the offer did (§7.1.2.2: "MUST NOT include" it otherwise). A
      // value the client gave is echoed (capped) so the answer states the whole
      // agreement; a bare offer is only answered when this server wants a smaller window.
      const offered = offer.clientMaxWindowBits === true ? MAX_WINDOW_BITS : offer.clientMaxWindowBits;
      const bits = Math.min(offered, o.clientMaxWindowBits ?? MAX_WINDOW_BITS);
      if (offer.clientMaxWindowBits !== true || bits < MAX_WINDOW_BITS) clientBits = bits;
    }
    return {
      serverNoContextTakeover: offer.serverNoContextTakeover || o.serverNoContextTakeover === true,
      // The client's own hint is echoed: it binds the client either way (§7.1.1.2), and
      // the answer then says all that holds.
      clientNoContextTakeover: offer.clientNoContextTakeover || o.clientNoContextTakeover === true,
      serverMaxWindowBits: offer.serverMaxWindowBits !== null || serverBits < MAX_WINDOW_BITS ? serverBits : null,
      clientMaxWindowBits: clientBits,
    };
  }

  // ---- client ----------------------------------------------------------------------------

  offer(): ExtensionOffer[] {
    if (!nativeZlibAvailable()) return [];
    return [formatParams(this.offerParams())];
  }

  private offerParams(): DeflateParams {
    const o = this.options;
    return {
      serverNoContextTakeover: o.serverNoContextTakeover === true,
      clientNoContextTakeover: o.clientNoContextTakeover === true,
      serverMaxWindowBits: o.serverMaxWindowBits ?? null,
      clientMaxWindowBits: o.clientMaxWindowBits ?? true,
    };
  }

  checkResponse(response: ExtensionOffer): string | null {
    const got = readParams(response, "response");
    if (typeof got === "string") return got;
    const offer = this.offerParams();
    // §7.1.1.1: accepting an offer that asked for server_no_context_takeover means answering it.
    if (offer.serverNoContextTakeover && !got.serverNoContextTakeover) {
      return "server_no_context_takeover was asked for but not answered";
    }
    // §7.1.2.1: "the same or smaller value as the offer".
    if (offer.serverMaxWindowBits !== null) {
      if (got.serverMaxWindowBits === null) return "server_max_window_bits was asked for but not answered";
      if (got.serverMaxWindowBits > offer.serverMaxWindowBits) {
        return `server_max_window_bits=${got.serverMaxWindowBits} is larger than the ${offer.serverMaxWindowBits} offered`;
      }
    }
    // §7.1.2.2: only when offered, and no larger than an offered value.
    if (got.clientMaxWindowBits !== null) {
      if (offer.clientMaxWindowBits === null) return "client_max_window_bits was not offered";
      if (offer.clientMaxWindowBits !== true && (got.clientMaxWindowBits as number) > offer.clientMaxWindowBits) {
        return `client_max_window_bits=${String(got.clientMaxWindowBits)} is larger than the ${offer.clientMaxWindowBits} offered`;
      }
    }
    return null;
  }
}

/** A permessage-deflate negotiator to list in a protocol's `extensions`. */
export function permessageDeflate(options: PerMessageDeflateOptions = {}): PerMessageDeflate {
  return new PerMessageDeflate(options);
}

// ---- from the handshake to the session -----------------------------------------------------

/** What a {@link WsSession} needs to run permessage-deflate (its `deflate` option). */
export interface DeflateSessionConfig {
  agreement: DeflateAgreement;
  tuning?: Partial<DeflateTuning>;
}

/**
 * The session's deflate configuration after a handshake, or null when permessage-deflate
 * was not negotiated. `negotiators` are the ones the handshake was given (a protocol's
 * `extensions`); the one named permessage-deflate supplies the tuning, and, on a client,
 * the hints of its offer that bind it whatever the server answered (§7.1.1.2, §7.1.2.2).
 */
export function deflateSessionConfig(
  role: "server" | "client",
  negotiated: readonly NegotiatedExtension[],
  negotiators: readonly ExtensionNegotiator[] = [],
): DeflateSessionConfig | null {
  const agreed = negotiated.find((e) => e.name.toLowerCase() === EXTENSION_NAME);
  if (!agreed) return null;
  const params = readParams(agreed.params, "response");
  if (typeof params === "string") {
    throw usage("INVALID_ARGUMENT", `negotiated permessage-deflate parameters cannot be read: ${params}`);
  }
  const agreement = agreementOf(params);
  const negotiator = negotiators.find((n) => n.name.toLowerCase() === EXTENSION_NAME);
  const own = negotiator instanceof PerMessageDeflate ? negotiator : null;
  if (role === "client" && own) {
    if (own.options.clientNoContextTakeover) agreement.clientNoContextTakeover = true;
    const bits = own.options.clientMaxWindowBits;
    if (bits !== undefined) agreement.clientMaxWindowBits = Math.min(agreement.clientMaxWindowBits, bits);
  }
  return own ? { agreement, tuning: own.tuning } : { agreement };
}
