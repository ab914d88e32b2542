import { expectError, expectType } from "tsd";
import {
  Context,
  ManualDriver,
  defineProtocol,
  type CallbackEvent,
  type Connection,
  WsloopUsageError,
  type UsageErrorCode,
} from "wsloop";

// A protocol's user data is typed through its definition.
const counter = defineProtocol<{ count: number }>({
  name: "counter",
  createUserData: () => ({ count: 0 }),
  callback(event) {
    if (event.reason === "RECEIVE") {
      expectType<number>(event.connection.userData.count);
      expectType<Buffer>(event.data);
      expectType<boolean>(event.binary);
    }
    if (event.reason === "CLOSED") {
      expectType<number>(event.code);
      expectType<boolean>(event.clean);
    }
    if (event.reason === "ADD_POLL_FD") {
      expectType<number>(event.fd);
      expectType<number>(event.events);
    }
  },
});

// createUserData must return the declared type.
expectError(defineProtocol<{ count: number }>({ name: "x", createUserData: () => ({ count: "no" }), callback() {} }));

const driver = new ManualDriver();
const context = driver.createContext({ vhosts: [{ protocols: [counter] }] });
expectType<Context>(context);
expectType<number>(context.adjustTimeout(1000));

declare const event: CallbackEvent<{ count: number }>;
if (event.reason === "CLIENT_CONNECTION_ERROR") expectType<string>(event.cause);

declare const connection: Connection<{ count: number }>;
expectType<void>(connection.write("text"));
expectError(connection.write("x", "pong"));
expectType<UsageErrorCode>(new WsloopUsageError("INVALID_ARGUMENT", "m").code);

// A streamed request body: a byte count or "chunked", written from CLIENT_HTTP_WRITEABLE.
context.connect({ url: "http://example.com/up", method: "PUT", bodyLength: 10 });
context.connect({ url: "http://example.com/up", method: "POST", bodyLength: "chunked" });
expectError(context.connect({ url: "http://example.com/up", method: "POST", bodyLength: "unknown" }));
if (event.reason === "CLIENT_HTTP_WRITEABLE") expectType<void>(event.connection.writeHttp(Buffer.from("piece"), { final: true }));
