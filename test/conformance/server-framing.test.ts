/**
 * Conformance of `wsloop echo` on real sockets, Autobahn categories 1-5: framing and
 * lengths, pings and pongs, reserved bits, opcodes, fragmentation with interleaved
 * control frames. Each case runs whole, byte by byte and in random pieces.
 */
import { category1, category2, category3, category4, category5 } from "./cases/framing.js";
import { defineServerSuite } from "./harness/server-suite.js";

defineServerSuite("server-framing", "1-5 framing, pings, reserved bits, opcodes, fragmentation", [
  ["1 framing and lengths", category1],
  ["2 pings and pongs", category2],
  ["3 reserved bits", category3],
  ["4 opcodes", category4],
  ["5 fragmentation", category5],
]);
