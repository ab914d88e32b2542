/**
 * Turns a list of server cases into vitest tests: for every selected loop, every case,
 * every chunking. A case wsloop is known to get wrong at a chunking runs as `it.fails`
 * (its note says what and where); everything else must match the RFC's transcript exactly.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Report } from "./report.js";
import { LIMITED_MAX_MESSAGE, alternativesOf, chunkingLabel, defaultChunkings, expectedOf, runServerCase, type ServerCase } from "./server-case.js";
import { selectedStarters, type EchoServer } from "./servers.js";

export function defineServerSuite(section: string, title: string, groups: Array<[string, ServerCase[]]>): void {
  for (const starter of selectedStarters()) {
    const report = new Report(`${section}-${starter.name}`, `${title} — loop \`${starter.name}\``);
    describe(`${title} — loop ${starter.name}`, () => {
      let server: EchoServer;
      let limited: EchoServer;
      beforeAll(async () => {
        server = await starter.start();
        limited = await starter.start({ maxMessageSize: LIMITED_MAX_MESSAGE });
      });
      afterAll(async () => {
        await server?.stop();
        await limited?.stop();
        report.write();
      });

      for (const [group, cases] of groups) {
        describe(group, () => {
          for (const c of cases) {
            for (const chunking of defaultChunkings(c)) {
              const label = chunkingLabel(chunking);
              const known = c.known?.chunkings.includes(label) ?? false;
              const name = `${c.id} ${c.description} [${label}]`;
              const test = known ? it.fails : it;
              test(name, { timeout: 60_000 }, async () => {
                const target = c.server === "limited" ? limited : server;
                const result = await runServerCase(target, c, chunking);
                const expected = expectedOf(c);
                const alternatives = alternativesOf(c);
                const strict = result.got === expected;
                const allowed = strict || (c.acceptNonStrict === true && alternatives.includes(result.got));
                const note = !strict && alternatives.includes(result.got) ? " (NON-STRICT)" : "";
                report.add({
                  id: c.id,
                  description: c.description,
                  ...(known ? { knownNote: c.known!.note } : {}),
                  expected: expected + (c.acceptNonStrict && alternatives.length ? ` (also allowed: ${alternatives.join(" or ")})` : ""),
                  got: result.got + note,
                  variant: label,
                  outcome: allowed ? "pass" : known ? "known failure" : "FAIL",
                });
                if (!allowed) expect(result.got, c.known?.note ?? "").toBe(expected);
              });
            }
          }
        });
      }
    });
  }
}
