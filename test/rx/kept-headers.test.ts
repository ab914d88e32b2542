/**
 * The handshake's headers as an rx connection keeps them past ESTABLISHED: one flat
 * string, read back as the same list — names in their received case, order, repeated
 * fields and values with colons all intact.
 */
import { describe, expect, it } from "vitest";
import { HeaderList } from "../../src/core/http/headers.js";
import { headerSelection, keepHeaders, restoreHeaders } from "../../src/loops/rx/kept-headers.js";

describe("rx loop: kept headers", () => {
  it("round-trips a list through one string", () => {
    const list = new HeaderList([
      ["Host", "127.0.0.1:7681"],
      ["Sec-WebSocket-Protocol", "chat, superchat"],
      ["X-Empty", ""],
      ["x-repeated", "a"],
      ["X-Repeated", "b\tc"],
    ]);
    const kept = keepHeaders(list);
    expect(typeof kept).toBe("string");
    const back = restoreHeaders(kept);
    expect([...back]).toEqual([...list]);
    expect(back.get("host")).toBe("127.0.0.1:7681");
    expect(back.getAll("x-repeated")).toEqual(["a", "b\tc"]);
  });

  it("keeps no headers as an empty list", () => {
    expect([...restoreHeaders(keepHeaders(null))]).toEqual([]);
    expect([...restoreHeaders(keepHeaders(new HeaderList()))]).toEqual([]);
  });

  it("keeps a list it cannot flatten (a line break in a value: never from the parser) as it is", () => {
    const list = new HeaderList([["X-Odd", "one\ntwo"]]);
    expect(keepHeaders(list)).toBe(list);
    expect(restoreHeaders(keepHeaders(list))).toBe(list);
  });

  it("keeps only the selected fields, matched without regard to case, in their order and case", () => {
    const list = new HeaderList([
      ["Host", "h"],
      ["Cookie", "a=1"],
      ["X-Odd", "one\ntwo"],
      ["cookie", "b=2"],
    ]);
    expect([...restoreHeaders(keepHeaders(list, headerSelection(["COOKIE"])))]).toEqual([
      ["Cookie", "a=1"],
      ["cookie", "b=2"],
    ]);
    // A list that cannot be flattened is still filtered.
    expect([...restoreHeaders(keepHeaders(list, headerSelection(["x-odd"])))]).toEqual([["X-Odd", "one\ntwo"]]);
    expect(keepHeaders(list, headerSelection(false))).toBe("");
    expect(headerSelection(undefined)).toBe(true);
  });
});
