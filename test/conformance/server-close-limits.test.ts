/**
 * Conformance of `wsloop echo` on real sockets, Autobahn categories 7 (close) and 9
 * (large and chopped messages), and wsloop's byte-budget limits (1009).
 */
import { category7, category9, limits } from "./cases/close-and-limits.js";
import { defineServerSuite } from "./harness/server-suite.js";

defineServerSuite("server-close-limits", "7 close, 9 limits", [
  ["7 close handshake", category7],
  ["9 large and chopped messages", category9],
  ["9.9 limits (64 KiB server)", limits],
]);
