import type { ExtensionOffer } from "../../../src/core/handshake/extension-header.js";
import type { ExtensionNegotiator } from "../../../src/core/handshake/extension.js";

/** A negotiator for tests: accepts the first offer that has no "reject" parameter. */
export function fakeNegotiator(name: string, rsvMask: number, seen: ExtensionOffer[][] = []): ExtensionNegotiator {
  return {
    name,
    rsvMask,
    accept(offers) {
      seen.push(offers);
      const ok = offers.find((o) => !o.params.has("reject"));
      return ok ? { response: { name, params: new Map(ok.params) }, params: ok } : null;
    },
    offer() {
      return [{ name, params: new Map([["level", "1"]]) }];
    },
    checkResponse(response) {
      return response.params.has("bogus") ? 'parameter "bogus" was not offered' : null;
    },
  };
}
