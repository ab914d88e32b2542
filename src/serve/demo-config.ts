/**
 * What `wsloop serve` without --config (and `wsloop demo`, `npm start`) runs: one vhost
 * on 127.0.0.1:7681 with the demo protocols — echo (the default, with
 * permessage-deflate, which browsers offer), dumb-increment-protocol,
 * lws-mirror-protocol, lws-status — the post-demo form at /formtest, and at / either DIR
 * or the bundled demo page. It is built as a config and checked like one.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseConfig, type ServerConfig } from "./config.js";

export interface DemoOptions {
  host?: string;
  port?: number;
  /** Serve this directory at / instead of the bundled page. */
  dir?: string;
  accessLog?: string;
}

export function demoConfigJson(options: DemoOptions = {}): Record<string, unknown> {
  return {
    global: { ...(options.accessLog ? { "access-log": options.accessLog } : {}) },
    vhosts: [
      {
        name: "localhost",
        port: options.port ?? 7681,
        interface: options.host ?? "127.0.0.1",
        mounts: [
          options.dir ? { mountpoint: "/", origin: pathToFileURL(resolve(options.dir)).href, default: "index.html" } : { mountpoint: "/", origin: "callback://demo-page" },
          { mountpoint: "/formtest", origin: "callback://post-demo" },
        ],
        "ws-protocols": [
          { echo: { default: true, deflate: true } },
          // dumb-increment and mirror stay uncompressed, as lws's test server has them.
          { "dumb-increment-protocol": {} },
          { "lws-mirror-protocol": {} },
          { "lws-status": {} },
          { "post-demo": {} },
          ...(options.dir ? [] : [{ "demo-page": {} }]),
        ],
      },
    ],
  };
}

export function demoConfig(options: DemoOptions = {}): ServerConfig {
  return parseConfig(demoConfigJson(options), "(built-in demo config)", process.cwd());
}
