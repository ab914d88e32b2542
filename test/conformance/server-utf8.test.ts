/**
 * Conformance of `wsloop echo` on real sockets, Autobahn category 6: UTF-8, with every
 * invalid sequence failed fast (1007 before the rest of the message is even sent).
 */
import { category6 } from "./cases/utf8.js";
import { defineServerSuite } from "./harness/server-suite.js";

defineServerSuite("server-utf8", "6 UTF-8 (fail fast)", [["6 UTF-8", category6]]);
