/**
 * A server and a client in one process, over an in-memory network, driven step by step
 * by the manual poll driver in virtual time. Every hook call is printed, so this is also
 * a picture of the external-poll contract at work.
 *
 *   npm run build && node dist-examples/manual-echo.js
 */
import { isMain } from "./is-main.js";
import { ManualDriver, POLLIN, POLLOUT, defineProtocol, describeEvents, type Context, type HookCall } from "wsloop";

export function runManualEcho(print: (line: string) => void = console.log): string[] {
  const driver = new ManualDriver();
  const echoed: string[] = [];

  const echo = defineProtocol<{ pending: Buffer[] }>({
    name: "echo",
    createUserData: () => ({ pending: [] }),
    callback(event) {
      if (event.reason === "RECEIVE") {
        event.connection.userData.pending.push(Buffer.from(event.data));
        event.connection.requestWriteable();
      } else if (event.reason === "SERVER_WRITEABLE") {
        const next = event.connection.userData.pending.shift();
        if (next) event.connection.write(next, "text");
        if (event.connection.userData.pending.length > 0) event.connection.requestWriteable();
      }
    },
  });

  const messages = ["hello", "wsloop", "bye"];
  const client = defineProtocol<{ sent: number }>({
    name: "echo",
    createUserData: () => ({ sent: 0 }),
    callback(event) {
      if (event.reason === "CLIENT_ESTABLISHED") event.connection.requestWriteable();
      else if (event.reason === "CLIENT_WRITEABLE") {
        const state = event.connection.userData;
        event.connection.write(messages[state.sent++]!);
        if (state.sent < messages.length) event.connection.requestWriteable();
      } else if (event.reason === "CLIENT_RECEIVE") {
        echoed.push(event.data.toString());
        if (echoed.length === messages.length) event.connection.close(1000, "done");
      } else if (event.reason === "CLIENT_CLOSED") {
        print(`client closed: ${event.code} "${event.closeReason}" clean=${event.clean}`);
      }
    },
  });

  const serverContext = driver.createContext({ vhosts: [{ name: "server", protocols: [echo] }] });
  const clientContext = driver.createContext({ vhosts: [{ name: "client", protocols: [client] }] });
  driver.network.listen("127.0.0.1", 7681, serverContext);
  clientContext.connect({ url: "ws://127.0.0.1:7681/", protocols: ["echo"] });

  const show = (who: string, context: Context) => {
    for (const call of driver.takeHookLog(context)) print(`  ${who} ${describeHook(call)}`);
  };
  show("server", serverContext);
  show("client", clientContext);
  for (let step = 1; ; step++) {
    const services = driver.step();
    if (services === 0) break;
    print(`step ${step}: ${services} service(s)`);
    show("server", serverContext);
    show("client", clientContext);
  }
  print(`echoed: ${echoed.join(", ")}`);
  return echoed;
}

function describeHook(call: HookCall): string {
  switch (call.hook) {
    case "add":
      return `add fd ${call.fd} for ${describeEvents(call.events)}`;
    case "del":
      return `del fd ${call.fd}`;
    case "changeMode":
      return `changeMode fd ${call.fd}: ${describeEvents(call.prevEvents)} -> ${describeEvents(call.events)}`;
  }
}

// Keep the POLL constants in view for readers comparing with lws's pollfd.events.
void POLLIN;
void POLLOUT;

if (isMain(import.meta.url)) runManualEcho();
