/**
 * The plug-in contract for WebSocket extensions (RFC 6455 §9). A negotiator knows one
 * extension kind (permessage-deflate, say) and does its half of the negotiation on
 * either side; the handshake code routes offers and responses to it by name and makes
 * sure no two negotiated extensions claim the same RSV bit.
 */
import type { ExtensionOffer } from "./extension-header.js";

export interface ExtensionNegotiator {
  /** The extension token, lower-case, e.g. "permessage-deflate". */
  readonly name: string;
  /** The RSV bits its frames use, as in the first header byte's low nibble: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  readonly rsvMask: number;
  /**
   * Server: the client's offers of this extension, in the client's preference order.
   * Accept the first acceptable one and return the element to send back and the
   * parameters in force, or return null to decline them all.
   */
  accept(offers: ExtensionOffer[]): { response: ExtensionOffer; params: ExtensionOffer } | null;
  /** Client: the offer(s) of this extension to send, most preferred first. */
  offer(): ExtensionOffer[];
  /**
   * Client: check the server's response element. Return a message naming what is wrong
   * when it is not an answer to something we offered, else null.
   */
  checkResponse(response: ExtensionOffer): string | null;
}

/** An extension in force on a connection, in the order its transform applies. */
export interface NegotiatedExtension {
  name: string;
  rsvMask: number;
  params: ExtensionOffer;
}
