/** The built-in plugins: the demo protocols, written as any plugin is (src/demo). */
import { plugin as dumbIncrement } from "../demo/dumb-increment-protocol.js";
import { plugin as echo } from "../demo/echo-protocol.js";
import { plugin as mirror } from "../demo/mirror-protocol.js";
import { httpOnlyPlugin, plugin as demoPage } from "../demo/page-protocol.js";
import { plugin as postDemo } from "../demo/post-demo.js";
import { plugin as status } from "../demo/status-protocol.js";
import type { ProtocolPlugin } from "./plugin.js";

export const builtinPlugins: readonly ProtocolPlugin[] = [echo, dumbIncrement, mirror, status, postDemo, demoPage, httpOnlyPlugin];
