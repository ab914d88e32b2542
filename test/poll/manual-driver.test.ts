/**
 * How the manual driver finds what to service. Without onReady it asks every pollable on
 * every step, as poll(2) would. With onReady (an embedder that steps when told) it asks
 * only the descriptors that announced readiness, were added or changed mode, or were
 * serviced on the step before — so a step costs what is active, not what is connected.
 */
import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { createMemoryPair, defineProtocol, type Context, type MemoryTransport } from "../../src/poll/index.js";
import { encodeFrame, zeroMaskSource } from "../../src/core/index.js";

const UPGRADE = [
  "GET / HTTP/1.1",
  "Host: memory",
  "Upgrade: websocket",
  "Connection: Upgrade",
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
  "Sec-WebSocket-Version: 13",
  "",
  "",
].join("\r\n");

/** Echo, one message per WRITEABLE (the writes are asked for: the driver sees mode changes). */
const echo = defineProtocol<{ queue: Buffer[] }>({
  name: "echo",
  createUserData: () => ({ queue: [] }),
  callback(event) {
    if (event.reason === "RECEIVE") {
      event.connection.userData.queue.push(Buffer.from(event.data));
      event.connection.requestWriteable();
    }
    if (event.reason === "SERVER_WRITEABLE") {
      const queue = event.connection.userData.queue;
      const next = queue.shift();
      if (next) event.connection.write(next, "text");
      if (queue.length > 0) event.connection.requestWriteable();
    }
  },
});

/** A server context with `count` peers adopted and upgraded; each peer's poll() calls counted. */
function serverWithPeers(driver: ManualDriver, count: number) {
  const server = driver.createContext({ vhosts: [{ protocols: [echo] }] });
  const peers: Array<{ client: MemoryTransport; served: MemoryTransport; polls: () => number }> = [];
  for (let i = 0; i < count; i++) {
    const { a: served, b: client } = createMemoryPair();
    let polls = 0;
    const poll = served.poll.bind(served);
    served.poll = () => {
      polls++;
      return poll();
    };
    server.adopt(served);
    client.write([Buffer.from(UPGRADE, "latin1")]);
    peers.push({ client, served, polls: () => polls });
  }
  return { server, peers };
}

function readAll(transport: MemoryTransport): Buffer {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = transport.read();
    if (!(chunk instanceof Buffer)) return Buffer.concat(parts);
    parts.push(chunk);
  }
}

function sendText(transport: MemoryTransport, text: string): void {
  const out: Uint8Array[] = [];
  encodeFrame(out, 1, Buffer.from(text), { mask: zeroMaskSource });
  transport.write(out);
}

function established(server: Context, count: number): void {
  expect(server.connectionCount).toBe(count);
  for (const connection of server.connections) expect(connection.state).toBe("established");
}

describe("the manual driver's step", () => {
  it("without onReady, asks every pollable on every step", () => {
    const driver = new ManualDriver();
    const { server, peers } = serverWithPeers(driver, 5);
    driver.run();
    established(server, 5);
    for (const peer of peers) readAll(peer.client);
    const before = peers.map((p) => p.polls());
    driver.step();
    driver.step();
    expect(peers.map((p, i) => p.polls() - before[i]!)).toEqual([2, 2, 2, 2, 2]);
  });

  it("with onReady, asks only the descriptors that announced readiness", () => {
    let told = 0;
    const driver = new ManualDriver({ onReady: () => told++ });
    const { server, peers } = serverWithPeers(driver, 5);
    driver.run();
    established(server, 5);
    for (const peer of peers) readAll(peer.client);
    // Quiet: nothing announced, so nothing is asked.
    const quiet = peers.map((p) => p.polls());
    expect(driver.step()).toBe(0);
    expect(peers.map((p) => p.polls())).toEqual(quiet);

    // One peer speaks: the driver is told, and only that descriptor is asked and served.
    told = 0;
    sendText(peers[2]!.client, "hello");
    expect(told).toBeGreaterThan(0);
    const before = peers.map((p) => p.polls());
    driver.run();
    const asked = peers.map((p, i) => p.polls() - before[i]!);
    expect(asked[2]).toBeGreaterThan(0);
    expect(asked.filter((n, i) => i !== 2 && n > 0)).toEqual([]);
    expect(readAll(peers[2]!.client).subarray(2).toString()).toBe("hello");
  });

  it("with onReady, announces a new descriptor, so an embedder that steps when told serves it", () => {
    let told = 0;
    const driver = new ManualDriver({ onReady: () => told++ });
    const server = driver.createContext({ vhosts: [{ protocols: [echo] }] });
    driver.run();
    told = 0;
    const { a: served, b: client } = createMemoryPair();
    client.write([Buffer.from(UPGRADE, "latin1")]);
    server.adopt(served);
    expect(told).toBeGreaterThan(0);
    driver.run();
    established(server, 1);
  });

  it("with onReady, tells the embedder when user code outside a service asks for WRITEABLE", () => {
    let told = 0;
    const driver = new ManualDriver({ onReady: () => told++ });
    const { server, peers } = serverWithPeers(driver, 1);
    driver.run();
    established(server, 1);
    readAll(peers[0]!.client);
    told = 0;
    const [connection] = [...server.connections];
    connection!.userData.queue.push(Buffer.from("pushed"));
    connection!.requestWriteable();
    expect(told).toBeGreaterThan(0);
    driver.run();
    expect(readAll(peers[0]!.client).subarray(2).toString()).toBe("pushed");
  });

  it("with onReady, finds on the next step what a service left behind (level-triggered)", () => {
    const driver = new ManualDriver({ onReady: () => {} });
    const server = driver.createContext({ vhosts: [{ protocols: [echo] }] });
    // 16-byte chunks: one read takes one chunk, so a burst takes several services.
    const { a: served, b: client } = createMemoryPair({ chunkSize: 16 });
    server.adopt(served);
    client.write([Buffer.from(UPGRADE, "latin1")]);
    driver.run();
    established(server, 1);
    readAll(client);
    const messages = Array.from({ length: 20 }, (_, i) => `message number ${i}`);
    for (const text of messages) sendText(client, text);
    // Served while anything is left, although no new notification comes in between.
    driver.run();
    const echoed = readAll(client);
    const texts: string[] = [];
    for (let at = 0; at < echoed.length; at += 2 + echoed[at + 1]!) texts.push(echoed.subarray(at + 2, at + 2 + echoed[at + 1]!).toString());
    expect(texts).toEqual(messages);
  });

  it("with onReady, a descriptor that closes is forgotten and no longer asked", () => {
    const driver = new ManualDriver({ onReady: () => {} });
    const { server, peers } = serverWithPeers(driver, 2);
    driver.run();
    established(server, 2);
    for (const peer of peers) readAll(peer.client);
    peers[0]!.client.destroy();
    driver.run();
    expect(server.connectionCount).toBe(1);
    const before = peers[0]!.polls();
    sendText(peers[1]!.client, "still here");
    driver.run();
    expect(peers[0]!.polls()).toBe(before);
    expect(readAll(peers[1]!.client).subarray(2).toString()).toBe("still here");
  });
});
