/** wsloop serve: an lwsws-style server from a JSON config, with protocol plugins. */
export { ConfigError, parseConfig, parseConfigText, type ConfigIssue, type ServerConfig, type VhostConfig, type GlobalConfig } from "./config.js";
export { definePlugin, PluginOptionError, intOption, boolOption, type ProtocolPlugin, type PluginOptions } from "./plugin.js";
export { startServer, type RunningServer, type StartOptions } from "./server.js";
export { demoConfig, demoConfigJson, type DemoOptions } from "./demo-config.js";
export { builtinPlugins } from "./builtins.js";
