import { expectAssignable, expectError, expectType } from "tsd";
import type { Observable } from "rxjs";
import { of } from "rxjs";
import type { HeaderList, PeerAddress } from "wsloop";
import {
  HandshakeRefusedError,
  RxLoop,
  TimeoutError,
  listenRx,
  schedulerClock,
  startRxEchoServer,
  type CloseInfo,
  type RxConnection,
  type RxEchoServer,
  type RxListener,
  type RxMessage,
  type TimeoutPhase,
} from "wsloop/rx";
import { asapScheduler } from "rxjs";

const loop = new RxLoop({ protocols: ["chat", { name: "bulk", maxMessageSize: 1024 }], connection: { highWaterMark: 4, overflow: "drop" } });
expectType<Observable<RxConnection>>(loop.connections$);
expectType<Observable<RxConnection>>(loop.connect("ws://127.0.0.1:7681/"));
expectType<Observable<RxConnection>>(loop.connect({ url: "ws://127.0.0.1:7681/", protocols: ["chat"] }, { maxBufferedBytes: 4096 }));
expectError(new RxLoop({ connection: { overflow: "block" } }));

declare const c: RxConnection;
// Text is a string, binary a Buffer: narrowing tells them apart.
c.messages$.subscribe((m) => {
  expectType<RxMessage>(m);
  if (typeof m === "string") expectType<string>(m);
  else expectType<Buffer>(m);
});
expectType<boolean>(c.send("text"));
expectType<boolean>(c.send(new Uint8Array(2)));
expectError(c.send(42));
expectType<Observable<never>>(c.sendAll(c.messages$));
expectType<Observable<never>>(c.sendAll(["a", Buffer.from("b")]));
expectType<Observable<never>>(c.sendAll(of("x"), { overflow: "close" }));
expectError(c.sendAll(of(1, 2)));
expectType<Observable<number>>(c.consume(() => of(1), { concurrency: 2 }));
expectType<Observable<never>>(c.consume(() => {}));
expectType<Observable<CloseInfo>>(c.closed$);
expectType<HeaderList>(c.headers);
expectType<PeerAddress | null>(c.peer);
expectType<number>(c.bufferedAmount);
expectType<number>(c.dropped);

declare const refused: HandshakeRefusedError;
expectType<number>(refused.status);
declare const timeout: TimeoutError;
expectType<TimeoutPhase>(timeout.phase);
expectAssignable<{ now(): number }>(schedulerClock(asapScheduler));
expectType<Promise<RxListener>>(listenRx(loop, { port: 0 }));
expectType<Promise<RxEchoServer>>(startRxEchoServer({ port: 0, maxMessageSize: 1 << 20 }));
