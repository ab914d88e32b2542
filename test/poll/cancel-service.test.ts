import { describe, expect, it } from "vitest";
import { ManualDriver } from "../../src/loops/manual/index.js";
import { Context, POLLIN, VirtualClock, createMemoryPair, type Pollable } from "../../src/poll/index.js";
import { add, expectHooks, recording, type RecordingProtocol } from "./harness.js";

function twoVhosts() {
  const driver = new ManualDriver();
  const protos: RecordingProtocol[] = [recording("a1"), recording("a2"), recording("b1")];
  const context = driver.createContext({
    vhosts: [
      { name: "a", protocols: [protos[0]!.protocol, protos[1]!.protocol] },
      { name: "b", protocols: [protos[2]!.protocol] },
    ],
  });
  driver.takeHookLog(context);
  for (const p of protos) {
    p.take();
    p.takePoll();
  }
  return { driver, context, protos };
}

describe("cancelService", () => {
  it("announces its wake-up descriptor through the add hook, once, when the context is made", () => {
    const driver = new ManualDriver();
    const first = recording("first");
    const second = recording("second");
    const context = driver.createContext({ vhosts: [{ protocols: [first.protocol, second.protocol] }] });
    expectHooks(driver, context, first, [add(context.wakeFd, POLLIN)]);
    expect(second.takePoll()).toEqual([]); // poll callbacks go to protocol 0 only
    expect(driver.pollfds(context)).toEqual([{ fd: context.wakeFd, events: POLLIN, revents: 0 }]);
  });

  it("wakes the loop: the next step services the wake-up descriptor and every protocol of every vhost gets EVENT_WAIT_CANCELLED once", () => {
    const { driver, context, protos } = twoVhosts();
    expect(driver.step()).toBe(0);
    context.cancelService();
    context.cancelService(); // twice before the loop wakes: still one wake-up
    expect(driver.step()).toBe(1);
    expect(protos.map((p) => p.take())).toEqual([["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"]]);
    expect(driver.step()).toBe(0);
    expect(protos.map((p) => p.take())).toEqual([[], [], []]);
    // The wake-up source is polled all the time; its interest never changes.
    expect(driver.takeHookLog(context)).toEqual([]);
  });

  it("is re-entrant: called inside EVENT_WAIT_CANCELLED it leads to one more delivery on the next step, not a loop", () => {
    const { driver, context, protos } = twoVhosts();
    let again = true;
    protos[0]!.handlers.EVENT_WAIT_CANCELLED = () => {
      if (again) context.cancelService();
      again = false;
    };
    context.cancelService();
    expect(driver.step()).toBe(1);
    // The whole round completes first: the other protocols are told in the same service.
    expect(protos.map((p) => p.take())).toEqual([["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"]]);
    expect(driver.step()).toBe(1);
    expect(protos.map((p) => p.take())).toEqual([["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"], ["EVENT_WAIT_CANCELLED"]]);
    expect(driver.step()).toBe(0);
  });

  it("called on every delivery, it wakes every step but never loops inside one", () => {
    const { driver, context, protos } = twoVhosts();
    protos[2]!.handlers.EVENT_WAIT_CANCELLED = () => context.cancelService();
    context.cancelService();
    for (let i = 0; i < 5; i++) {
      expect(driver.step()).toBe(1);
      expect(protos.map((p) => p.take().length)).toEqual([1, 1, 1]);
    }
  });

  it("does not wake the loop when nobody called it", () => {
    const { driver, context, protos } = twoVhosts();
    driver.advance(60_000);
    expect(protos.map((p) => p.take())).toEqual([[], [], []]);
    expect(context.adjustTimeout(1_000)).toBe(1_000);
  });

  it("is safe from any callback, including one that runs while another descriptor is serviced", () => {
    const { driver, context, protos } = twoVhosts();
    protos[0]!.handlers.TIMER = () => context.cancelService();
    const { b } = createMemoryPair();
    const connection = context.adopt(b)!;
    connection.setTimer(10);
    driver.advance(10);
    expect(protos[0]!.take()).toEqual(["FILTER_NETWORK_CONNECTION", "TIMER", "EVENT_WAIT_CANCELLED"]);
  });
});

describe("cancelService in a foreign loop (hooks only, no driver)", () => {
  it("makes the announced pollable report POLLIN; serviceFd on it delivers EVENT_WAIT_CANCELLED and zeroes revents", () => {
    const pollables = new Map<number, { events: number; source: Pollable }>();
    const proto = recording("only");
    const context = new Context({
      vhosts: [{ protocols: [proto.protocol] }],
      clock: new VirtualClock(),
      hooks: {
        add: (fd, events, source) => void pollables.set(fd, { events, source }),
        del: (fd) => void pollables.delete(fd),
        changeMode: (fd, events) => void (pollables.get(fd)!.events = events),
      },
    });
    expect([...pollables.keys()]).toEqual([context.wakeFd]);
    const wake = pollables.get(context.wakeFd)!;
    expect(wake.events).toBe(POLLIN);
    expect(wake.source.poll()).toBe(0);

    let notified = 0;
    wake.source.onReadiness = () => notified++;
    context.cancelService();
    expect(notified).toBe(1); // an event-driven loop learns it without polling
    expect(wake.source.poll()).toBe(POLLIN);
    proto.take();

    const pollfd = { fd: context.wakeFd, events: POLLIN, revents: POLLIN };
    expect(context.serviceFd(pollfd)).toBe(true);
    expect(pollfd.revents).toBe(0);
    expect(proto.take()).toEqual(["EVENT_WAIT_CANCELLED"]);
    expect(wake.source.poll()).toBe(0);
  });
});
