export { ManualDriver, type HookCall, type ManualDriverOptions } from "./manual-driver.js";
export { MemoryNetwork, type MemoryListenOptions } from "./memory-network.js";
export { MemoryFileOps } from "./memory-file-ops.js";
