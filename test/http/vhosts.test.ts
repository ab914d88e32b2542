/**
 * Several vhosts on one listener, chosen per request by the Host header as lws does:
 * port stripped, exact name first, then a parent domain; the first vhost for the rest.
 */
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { recording } from "../poll/harness.js";
import { HttpPeer, httpServer } from "./harness.js";
import { request } from "./wire.js";
import { createMemoryPair } from "../../src/poll/index.js";

function twoSites() {
  return httpServer({
    files: { "/a/index.html": "site A", "/b/index.html": "site B" },
    vhosts: [
      { name: "a.test", mounts: [{ mountpoint: "/", kind: "file", origin: "/a" }] },
      { name: "b.test", mounts: [{ mountpoint: "/", kind: "file", origin: "/b" }] },
    ],
  });
}

describe("vhosts by Host header", () => {
  it.each([
    ["a.test", "site A"],
    ["b.test", "site B"],
    ["B.TEST:8080", "site B"],
    ["b.test.", "site B"],
    ["cats.b.test", "site B"],
    ["deep.cats.b.test:1", "site B"],
    ["unknown.example", "site A"],
  ])("Host: %s → %s", (host, body) => {
    const peer = twoSites().open();
    peer.send(request("GET", "/", { Host: host }));
    expect(peer.response().body.toString()).toBe(body);
  });

  it("chooses per request: one kept-alive connection can visit both", () => {
    const peer = twoSites().open();
    peer.send(request("GET", "/", { Host: "b.test" }), request("GET", "/", { Host: "a.test" }), request("GET", "/", { Host: "b.test" }));
    expect(peer.responses(["GET", "GET", "GET"]).map((r) => r.body.toString())).toEqual(["site B", "site A", "site B"]);
  });

  it("an absolute-form target's host wins over the Host header", () => {
    const peer = twoSites().open();
    peer.send(request("GET", "http://b.test/index.html", { Host: "a.test" }));
    expect(peer.response().body.toString()).toBe("site B");
  });

  it("HTTP callbacks go to the chosen vhost's first protocol, WebSocket upgrades bind its protocols", () => {
    const a = recording("a-proto", { HTTP: (e) => e.connection.respond(200, {}, "from a") });
    const b = recording("b-proto", { HTTP: (e) => e.connection.respond(200, {}, "from b") });
    const s = httpServer({ vhosts: [{ name: "a.test", protocols: [a.protocol] }, { name: "b.test", protocols: [b.protocol] }] });
    const peer = s.open();
    peer.send(request("GET", "/", { Host: "b.test" }));
    expect(peer.response().body.toString()).toBe("from b");
    peer.clear();
    peer.send(
      "GET /ws HTTP/1.1\r\nHost: b.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    expect(peer.text()).toMatch(/^HTTP\/1\.1 101 /);
    expect(b.take().slice(-2)).toEqual(["FILTER_PROTOCOL_CONNECTION", "ESTABLISHED"]);
    expect(a.take().filter((l) => l === "ESTABLISHED")).toEqual([]);
    expect([...s.context.connections][0]!.vhost.name).toBe("b.test");
  });

  it.each(["ws", "http"])("a WebSocket upgrade's absolute-form target (%s://) picks the vhost it names, over the Host header", (scheme) => {
    const a = recording("a-proto");
    const b = recording("b-proto");
    const s = httpServer({ vhosts: [{ name: "a.test", protocols: [a.protocol] }, { name: "b.test", protocols: [b.protocol] }] });
    const peer = s.open();
    peer.send(
      `GET ${scheme}://b.test/ws HTTP/1.1\r\nHost: a.test` +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    expect(peer.text()).toMatch(/^HTTP\/1\.1 101 /);
    expect(b.take()).toContain("ESTABLISHED");
    expect(a.take()).not.toContain("ESTABLISHED");
    expect([...s.context.connections][0]!.vhost.name).toBe("b.test");
  });

  it("the memory network's listener passes its vhost group, as the Node loop's does", () => {
    const driver = new ManualDriver();
    const a = recording("a", { HTTP: (e) => e.connection.respond(200, {}, `a:${e.connection.vhost.name}`) });
    const b = recording("b", { HTTP: (e) => e.connection.respond(200, {}, `b:${e.connection.vhost.name}`) });
    const context = driver.createContext({ vhosts: [{ name: "a.test", protocols: [a.protocol] }, { name: "b.test", protocols: [b.protocol] }] });
    driver.network.listen("10.0.0.1", 80, context, { vhosts: ["a.test", "b.test"] });
    const transport = driver.network.dial({ address: "10.0.0.1", port: 80, tls: false });
    driver.run();
    const peer = new HttpPeer(transport as ReturnType<typeof createMemoryPair>["a"], driver);
    peer.send(request("GET", "/", { Host: "b.test" }));
    expect(peer.response().body.toString()).toBe("b:b.test");
  });
});
