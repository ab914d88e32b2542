/**
 * The config parser: a full lwsws-style config comes out as expected, and every error
 * path names the JSON path of the offending value and what was expected. Plugin problems
 * (unknown protocol, a module that is missing, loads badly or exports no plugin, a
 * rejected option) are found by startServer before anything listens.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig, parseConfigText, type ConfigIssue } from "../../src/serve/config.js";
import { startServer } from "../../src/serve/server.js";
import { demoConfig } from "../../src/serve/demo-config.js";

const fixtures = new URL("./fixtures/", import.meta.url).pathname;
const pem = mkdtempSync(join(tmpdir(), "wsloop-serve-"));
writeFileSync(join(pem, "cert.pem"), "not really a certificate\n");
writeFileSync(join(pem, "key.pem"), "not really a key\n");

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function base(): Json {
  return {
    global: { "log-level": "info", plugins: ["./shout-plugin.mjs"], "shutdown-grace-ms": 500, "access-log": "-", "max-connections": 100 },
    vhosts: [
      {
        name: "localhost",
        port: "7681",
        interface: "127.0.0.1",
        "keepalive_timeout": 7,
        "error-document-404": "/404.html",
        mounts: [
          { mountpoint: "/", origin: "file://www", default: "index.html", "cache-max-age": 60, "cache-reuse": "1", "cache-revalidate": true, "cache-intermediaries": false, "extra-mimetypes": { ".wasm": "application/wasm" }, precompressed: true },
          { mountpoint: "/api", origin: "callback://shout" },
          { mountpoint: "/old", origin: ">https://example.com/new", "redirect-status": 301 },
        ],
        "ws-protocols": [{ "dumb-increment-protocol": { status: "ok", "interval-ms": 20 } }, { shout: { default: "1", prefix: "> " } }],
      },
      { name: "other.example", port: 0, "host-ssl-cert": join(pem, "cert.pem"), "host-ssl-key": join(pem, "key.pem") },
    ],
  };
}

function issuesOf(json: unknown): ConfigIssue[] {
  try {
    parseConfig(json, "test.json", fixtures);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    throw error;
  }
  return [];
}

describe("parseConfig: a good config", () => {
  it("reads global, vhosts, mounts with origins and cache options, ws-protocols with options and the default", () => {
    const config = parseConfig(base(), "test.json", fixtures);
    expect(config.global).toMatchObject({ logLevel: "info", plugins: ["./shout-plugin.mjs"], shutdownGraceMs: 500, accessLog: "-", maxConnections: 100 });
    const [a, b] = config.vhosts;
    expect(a).toMatchObject({ name: "localhost", port: 7681, host: "127.0.0.1", keepAliveMs: 7000, errorDocument404: "/404.html", defaultProtocol: "shout", tls: null });
    expect(a!.mounts).toEqual([
      { mountpoint: "/", kind: "file", origin: join(fixtures, "www"), defaultFile: "index.html", cacheMaxAge: 60, cacheReusable: true, cacheRevalidate: true, cacheIntermediaries: false, mimeTypes: { wasm: "application/wasm" }, precompressed: true },
      { mountpoint: "/api", kind: "callback", origin: "shout" },
      { mountpoint: "/old", kind: "redirect-https", origin: "example.com/new", status: 301 },
    ]);
    expect(a!.protocols.map((p) => [p.name, p.options])).toEqual([
      ["dumb-increment-protocol", { "interval-ms": 20 }],
      ["shout", { prefix: "> " }],
    ]);
    expect(b).toMatchObject({ name: "other.example", port: 0, tls: { certFile: join(pem, "cert.pem"), keyFile: join(pem, "key.pem") }, protocols: [], defaultProtocol: null });
  });

  it("file:///absolute origins and the built-in demo config", () => {
    const json = base();
    json["vhosts"][0].mounts[0].origin = `file://${join(fixtures, "www")}`;
    expect(parseConfig(json, "t", "/").vhosts[0]!.mounts[0]!.origin).toBe(join(fixtures, "www"));
    const demo = demoConfig({ port: 0 });
    expect(demo.vhosts[0]!.protocols.map((p) => p.name)).toEqual(["echo", "dumb-increment-protocol", "lws-mirror-protocol", "lws-status", "post-demo", "demo-page"]);
    expect(demo.vhosts[0]!.defaultProtocol).toBe("echo");
  });
});

// [what, mutate, path, expected substring]
const cases: Array<[string, (j: Json) => unknown, string, string]> = [
  ["not an object", () => [], "(root)", "an object, got an array"],
  ["unknown top-level key", (j) => ((j["vhost"] = []), j), "vhost", "unknown key"],
  ["no vhosts", (j) => ((j["vhosts"] = []), j), "vhosts", "an array of at least one vhost"],
  ["vhosts not an array", (j) => ((j["vhosts"] = {}), j), "vhosts", "got an object"],
  ["global not an object", (j) => ((j["global"] = 1), j), "global", "an object, got number 1"],
  ["unknown global key", (j) => ((j["global"].uid = 0), j), "global.uid", "unknown key"],
  ["bad log level", (j) => ((j["global"]["log-level"] = "loud"), j), "global.log-level", `one of "err", "warn", "notice", "info", "debug"`],
  ["plugins not an array", (j) => ((j["global"].plugins = "x.js"), j), "global.plugins", "an array of module paths or package names"],
  ["plugin not a string", (j) => ((j["global"].plugins = [3]), j), "global.plugins[0]", "a module path"],
  ["bad grace", (j) => ((j["global"]["shutdown-grace-ms"] = -1), j), "global.shutdown-grace-ms", "a whole number from 0 to 600000"],
  ["bad access log", (j) => ((j["global"]["access-log"] = true), j), "global.access-log", `a file path, or "-"`],
  ["bad max-connections", (j) => ((j["global"]["max-connections"] = 0), j), "global.max-connections", "from 1"],
  ["vhost not an object", (j) => ((j["vhosts"][1] = "x"), j), "vhosts[1]", "an object, got string"],
  ["unknown vhost key", (j) => ((j["vhosts"][0].listen = 1), j), "vhosts[0].listen", "unknown key"],
  ["no name", (j) => (delete j["vhosts"][0].name, j), "vhosts[0].name", "a vhost name"],
  ["duplicate name", (j) => ((j["vhosts"][1].name = "localhost"), j), "vhosts[1].name", "also vhosts[0].name"],
  ["no port", (j) => (delete j["vhosts"][0].port, j), "vhosts[0].port", "a port number from 0 to 65535, got nothing"],
  ["port too big", (j) => ((j["vhosts"][0].port = 70000), j), "vhosts[0].port", "a port number"],
  ["port not a number", (j) => ((j["vhosts"][0].port = "http"), j), "vhosts[0].port", `got string "http"`],
  ["bad interface", (j) => ((j["vhosts"][0].interface = 127), j), "vhosts[0].interface", "an address to listen on"],
  ["cert without key", (j) => (delete j["vhosts"][1]["host-ssl-key"], j), "vhosts[1].host-ssl-key", "since host-ssl-cert is given"],
  ["key without cert", (j) => (delete j["vhosts"][1]["host-ssl-cert"], j), "vhosts[1].host-ssl-cert", "since host-ssl-key is given"],
  ["missing cert file", (j) => ((j["vhosts"][1]["host-ssl-cert"] = "/nonexistent/cert.pem"), j), "vhosts[1].host-ssl-cert", "cannot be read (ENOENT)"],
  ["cert is a directory", (j) => ((j["vhosts"][1]["host-ssl-cert"] = pem), j), "vhosts[1].host-ssl-cert", "is not a file"],
  ["missing CA file", (j) => ((j["vhosts"][1]["host-ssl-ca"] = "nope.pem"), j), "vhosts[1].host-ssl-ca", "cannot be read"],
  ["CA without TLS", (j) => ((j["vhosts"][0]["host-ssl-ca"] = "x.pem"), j), "vhosts[0].host-ssl-ca", "need TLS"],
  ["ws-protocols not an array", (j) => ((j["vhosts"][0]["ws-protocols"] = { echo: {} }), j), "vhosts[0].ws-protocols", "an array of"],
  ["ws-protocols entry with two keys", (j) => ((j["vhosts"][0]["ws-protocols"][0] = { a: {}, b: {} }), j), "vhosts[0].ws-protocols[0]", "an object with one key"],
  ["protocol options not an object", (j) => ((j["vhosts"][0]["ws-protocols"][0] = { echo: true }), j), `vhosts[0].ws-protocols[0].echo`, "an object of options"],
  ["protocol listed twice", (j) => (j["vhosts"][0]["ws-protocols"].push({ shout: {} }), j), "vhosts[0].ws-protocols[2].shout", "listed twice"],
  ["two defaults", (j) => ((j["vhosts"][0]["ws-protocols"][0]["dumb-increment-protocol"].default = true), j), `vhosts[0].ws-protocols[1].shout.default`, `"dumb-increment-protocol" is already the default`],
  ["bad default", (j) => ((j["vhosts"][0]["ws-protocols"][1].shout.default = "yes"), j), "vhosts[0].ws-protocols[1].shout.default", "true or false"],
  ["bad status", (j) => ((j["vhosts"][0]["ws-protocols"][1].shout.status = "off"), j), "vhosts[0].ws-protocols[1].shout.status", `"ok"`],
  ["object option", (j) => ((j["vhosts"][0]["ws-protocols"][1].shout.prefix = {}), j), "vhosts[0].ws-protocols[1].shout.prefix", "a string, number, boolean or null"],
  ["mounts not an array", (j) => ((j["vhosts"][0].mounts = {}), j), "vhosts[0].mounts", "an array of mounts"],
  ["mount not an object", (j) => ((j["vhosts"][0].mounts[1] = "/api"), j), "vhosts[0].mounts[1]", "an object"],
  ["unknown mount key", (j) => ((j["vhosts"][0].mounts[1].protocol = "x"), j), "vhosts[0].mounts[1].protocol", "unknown key"],
  ["no mountpoint", (j) => (delete j["vhosts"][0].mounts[1].mountpoint, j), "vhosts[0].mounts[1].mountpoint", `a path starting with "/"`],
  ["relative mountpoint", (j) => ((j["vhosts"][0].mounts[1].mountpoint = "api"), j), "vhosts[0].mounts[1].mountpoint", `got string "api"`],
  ["same mountpoint twice", (j) => ((j["vhosts"][0].mounts[1].mountpoint = "/old/"), j), "vhosts[0].mounts[2].mountpoint", `"/old" is taken`],
  ["origin not a string", (j) => ((j["vhosts"][0].mounts[1].origin = 5), j), "vhosts[0].mounts[1].origin", `a string like "file:///var/www" or "callback://protocol", got number 5`],
  ["origin with an unknown scheme", (j) => ((j["vhosts"][0].mounts[1].origin = "cgi://x"), j), "vhosts[0].mounts[1].origin", `">https://host/path" for a redirect`],
  ["empty origin after the scheme", (j) => ((j["vhosts"][0].mounts[1].origin = "callback://"), j), "vhosts[0].mounts[1].origin", "callback://protocol"],
  ["missing directory", (j) => ((j["vhosts"][0].mounts[0].origin = "file://nowhere"), j), "vhosts[0].mounts[0].origin", "does not exist"],
  ["origin directory is a file", (j) => ((j["vhosts"][0].mounts[0].origin = "file://shout-plugin.mjs"), j), "vhosts[0].mounts[0].origin", "is not one"],
  ["callback to a protocol not listed", (j) => ((j["vhosts"][0].mounts[1].origin = "callback://echo"), j), "vhosts[0].mounts[1].origin", `("echo" is not)`],
  ["default with a slash", (j) => ((j["vhosts"][0].mounts[0].default = "a/index.html"), j), "vhosts[0].mounts[0].default", "a file name without"],
  ["default not a string", (j) => ((j["vhosts"][0].mounts[0].default = 1), j), "vhosts[0].mounts[0].default", "a file name"],
  ["bad cache-max-age", (j) => ((j["vhosts"][0].mounts[0]["cache-max-age"] = 1.5), j), "vhosts[0].mounts[0].cache-max-age", "seconds"],
  ["bad cache flag", (j) => ((j["vhosts"][0].mounts[0]["cache-reuse"] = "maybe"), j), "vhosts[0].mounts[0].cache-reuse", "true or false"],
  ["bad precompressed", (j) => ((j["vhosts"][0].mounts[0].precompressed = []), j), "vhosts[0].mounts[0].precompressed", "true or false"],
  ["extra-mimetypes not an object", (j) => ((j["vhosts"][0].mounts[0]["extra-mimetypes"] = "x"), j), "vhosts[0].mounts[0].extra-mimetypes", "extension → content type"],
  ["extra mimetype not a string", (j) => ((j["vhosts"][0].mounts[0]["extra-mimetypes"][".x"] = 1), j), `vhosts[0].mounts[0].extra-mimetypes[".x"]`, "a content type"],
  ["file option on a callback mount", (j) => ((j["vhosts"][0].mounts[1]["cache-max-age"] = 5), j), "vhosts[0].mounts[1].cache-max-age", "file:// mounts only"],
  ["redirect-status on a file mount", (j) => ((j["vhosts"][0].mounts[0]["redirect-status"] = 301), j), "vhosts[0].mounts[0].redirect-status", "redirect"],
  ["bad redirect status", (j) => ((j["vhosts"][0].mounts[2]["redirect-status"] = 200), j), "vhosts[0].mounts[2].redirect-status", "one of 301, 302, 303, 307, 308"],
  ["redirect with a space", (j) => ((j["vhosts"][0].mounts[2].origin = ">https://a b"), j), "vhosts[0].mounts[2].origin", "without spaces"],
  ["bad keepalive", (j) => ((j["vhosts"][0].keepalive_timeout = "5s"), j), "vhosts[0].keepalive_timeout", "seconds, a whole number from 0"],
  ["error document not absolute", (j) => ((j["vhosts"][0]["error-document-404"] = "404.html"), j), "vhosts[0].error-document-404", `starting with "/"`],
  ["error document not a string", (j) => ((j["vhosts"][0]["error-document-404"] = 404), j), "vhosts[0].error-document-404", "a path in the vhost's URL space"],
  ["error document without a file mount", (j) => ((j["vhosts"][1]["error-document-404"] = "/404.html"), j), "vhosts[1].error-document-404", "a file:// mount"],
  ["bad vhost access log", (j) => ((j["vhosts"][0]["access-log"] = ""), j), "vhosts[0].access-log", "a file path"],
];

describe("parseConfig: every error names its JSON path and what was expected", () => {
  for (const [what, mutate, path, expected] of cases) {
    it(what, () => {
      const issues = issuesOf(mutate(base()));
      expect(issues.map((i) => i.path)).toContain(path);
      expect(issues.find((i) => i.path === path)!.expected).toContain(expected);
    });
  }

  it("reports every problem at once, one line each: path: expected ...", () => {
    const json = base();
    json["vhosts"][0].port = -1;
    json["vhosts"][0].mounts[1].origin = "nope";
    try {
      parseConfig(json, "site.json", fixtures);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).toContain("site.json: 2 problems");
      expect(message).toContain(`vhosts[0].port: expected a port number from 0 to 65535, got number -1`);
      expect(message).toContain(`vhosts[0].mounts[1].origin: expected a string like "file:///var/www" or "callback://protocol"`);
    }
  });

  it("text that is not JSON", () => {
    expect(() => parseConfigText("{ vhosts: }", "bad.json")).toThrow(/bad\.json: 1 problem\n {2}\(file\): expected valid JSON/);
  });
});

describe("startServer: plugin problems are config errors, and nothing listens", () => {
  async function startIssues(mutate: (j: Json) => unknown): Promise<ConfigIssue[]> {
    const json = mutate(base()) as Json;
    json["vhosts"].splice(1, 1); // no TLS vhost: nothing would fail at listen
    json["vhosts"][0].port = 0;
    try {
      const running = await startServer(parseConfig(json, "t.json", fixtures), { emit: () => {} });
      await running.close(0);
    } catch (error) {
      if (error instanceof ConfigError) return [...error.issues];
      throw error;
    }
    return [];
  }

  it("a good config starts (and stops)", async () => {
    expect(await startIssues((j) => j)).toEqual([]);
  });
  it("a protocol nobody provides", async () => {
    const issues = await startIssues((j) => (j["vhosts"][0]["ws-protocols"].push({ nosuch: {} }), j));
    expect(issues).toEqual([{ path: "vhosts[0].ws-protocols[2].nosuch", expected: expect.stringContaining(`"nosuch" is neither`) }]);
  });
  it("a plugin module that does not exist", async () => {
    const issues = await startIssues((j) => (j["global"].plugins.push("./missing.mjs"), j));
    expect(issues).toEqual([{ path: "global.plugins[1]", expected: expect.stringContaining("is neither a file") }]);
  });
  it("a package that is not installed", async () => {
    const issues = await startIssues((j) => (j["global"].plugins.push("wsloop-no-such-plugin-package"), j));
    expect(issues[0]!.path).toBe("global.plugins[1]");
  });
  it("a module that exports no plugin", async () => {
    const issues = await startIssues((j) => (j["global"].plugins.push("./not-a-plugin.mjs"), j));
    expect(issues).toEqual([{ path: "global.plugins[1]", expected: expect.stringContaining("exports none") }]);
  });
  it("a module that fails to load", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsloop-plugin-"));
    writeFileSync(join(dir, "broken.mjs"), "throw new Error('broken plugin');\n");
    const issues = await startIssues((j) => (j["global"].plugins.push(join(dir, "broken.mjs")), j));
    expect(issues).toEqual([{ path: "global.plugins[1]", expected: expect.stringContaining("failed with broken plugin") }]);
  });
  it("a plugin that reuses a name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "wsloop-plugin-"));
    writeFileSync(join(dir, "echo.mjs"), "export default { name: 'echo', create() { return { name: 'echo', callback() {} }; } };\n");
    const issues = await startIssues((j) => (j["global"].plugins.push(join(dir, "echo.mjs")), j));
    expect(issues).toEqual([{ path: "global.plugins[1]", expected: expect.stringContaining(`"echo", which is already loaded`) }]);
  });
  it("a per-vhost option the plugin rejects (PluginOptionError) is reported at the option", async () => {
    const issues = await startIssues((j) => ((j["vhosts"][0]["ws-protocols"][0]["dumb-increment-protocol"]["interval-ms"] = "soon"), j));
    expect(issues).toEqual([{ path: "vhosts[0].ws-protocols[0].dumb-increment-protocol.interval-ms", expected: "a whole number from 1 to 9007199254740991" }]);
  });
  it("any other error from create() is reported at the protocol", async () => {
    const issues = await startIssues((j) => ((j["vhosts"][0]["ws-protocols"][1].shout.prefix = 5), j));
    expect(issues).toEqual([{ path: "vhosts[0].ws-protocols[1].shout", expected: expect.stringContaining("prefix must be a string") }]);
  });
});
