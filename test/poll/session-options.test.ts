/**
 * A protocol's limits become session options once per protocol, frozen, so that its
 * sessions share one limits object; a protocol whose limits change is read anew.
 */
import { describe, expect, it } from "vitest";
import { WsSession, defaultLimits, type WsSessionEvents } from "../../src/core/ws-session.js";
import type { ProtocolDefinition } from "../../src/poll/protocol.js";
import { sessionOptions } from "../../src/poll/session-options.js";

const noEvents = {} as WsSessionEvents;
const session = (protocol: ProtocolDefinition<unknown>) => new WsSession(sessionOptions("server", protocol, [], null), noEvents);

describe("sessionOptions: a protocol's limits", () => {
  it("are one frozen object for every session of the protocol, and so are the merged limits", () => {
    const protocol: ProtocolDefinition<unknown> = { name: "p", callback: () => 0, maxMessageSize: 1000, fragmentOverhead: 8 };
    const a = sessionOptions("server", protocol, [], null).limits!;
    expect(sessionOptions("client", protocol, [], null).limits).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(session(protocol).limits).toBe(session(protocol).limits);
    expect(session(protocol).limits).toEqual({ ...defaultLimits, maxMessageSize: 1000, fragmentOverhead: 8 });
  });

  it("are read again when the protocol's change", () => {
    const protocol: ProtocolDefinition<unknown> = { name: "p", callback: () => 0, maxFrameSize: 100 };
    const before = session(protocol).limits;
    protocol.maxFrameSize = 200;
    protocol.maxMessageSize = 300;
    const after = session(protocol).limits;
    expect([before.maxFramePayload, after.maxFramePayload, after.maxMessageSize]).toEqual([100, 200, 300]);
  });

  it("are the defaults when the protocol sets none", () => {
    expect(session({ name: "p", callback: () => 0 }).limits).toEqual(defaultLimits);
  });
});
