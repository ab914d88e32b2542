// Preloaded (node --expose-gc --import) into every Node server of the benchmark so the
// harness can ask for a full garbage collection (SIGUSR2) before it reads VmRSS: memory
// per connection is then live memory, not garbage the next GC would have freed.
process.on("SIGUSR2", () => {
  if (typeof globalThis.gc === "function") globalThis.gc();
});
