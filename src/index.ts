/**
 * wsloop: lws's model in TypeScript. The engine (core), the context with the
 * external-poll contract (poll) and the manual driver are exported here; the Node and
 * RxJS loops have their own entry points (wsloop/node, wsloop/rx).
 */
export * from "./core/index.js";
export * from "./poll/index.js";
export * from "./loops/manual/index.js";
