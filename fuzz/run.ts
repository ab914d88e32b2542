/**
 * The long fuzz run: millions of random and mutated inputs into the frame parser, the
 * session, a whole echo server on the manual driver, and the HTTP head parsers.
 *
 *   npm run fuzz                       (3 minutes)
 *   npm run fuzz -- --seconds 600 --seed 42
 *   npm run fuzz -- --replay session:123456789     (re-run one input, print what it found)
 *
 * Checks (see test/conformance/harness/fuzz-kit.ts): nothing but a typed peer error
 * escapes (no throw, no internal-error log, only 1002/1007/1009 for faults), no state
 * machine stalls (valid input + a valid close reaches "closed"), HTTP verdicts do not
 * depend on how input is cut, no connection is left behind; and the heap, sampled every
 * second and measured after GC every 10 s, stays within its budget.
 *
 * Exit code 0: no finding and the memory budget held; 1 otherwise.
 */
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { category1, category2, category3, category4, category5 } from "../test/conformance/cases/framing.js";
import { category6 } from "../test/conformance/cases/utf8.js";
import { category7 } from "../test/conformance/cases/close-and-limits.js";
import {
  Rng,
  UPGRADE,
  checkFrameParser,
  checkHeadParser,
  checkSession,
  conversation,
  describeError,
  mutate,
  requestHead,
  responseHead,
  serveOverManualDriver,
  type Problem,
} from "../test/conformance/harness/fuzz-kit.js";
import type { ServerCase } from "../test/conformance/harness/server-case.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "180" },
    seed: { type: "string" },
    replay: { type: "string" },
    "heap-budget-mb": { type: "string", default: "64" },
    quiet: { type: "boolean", default: false },
  },
  strict: true,
});

const seconds = Number(values.seconds);
const masterSeed = values.seed !== undefined ? Number(values.seed) : (Date.now() & 0x7fffffff);
const heapBudget = Number(values["heap-budget-mb"]) * 1024 * 1024;

// ---- the seed corpus: every stream the conformance suite sends, valid and not -------------------------

function corpusOf(cases: ServerCase[]): Buffer[] {
  const out: Buffer[] = [];
  for (const c of cases) {
    if (typeof c.steps === "function") continue;
    const bytes = Buffer.concat(c.steps.flatMap((s) => (s.kind === "send" ? [s.bytes] : [])));
    if (bytes.length > 0 && bytes.length < 200_000) out.push(bytes);
  }
  return out;
}
const frameCorpus = corpusOf([...category1, ...category2, ...category3, ...category4, ...category5, ...category6, ...category7]);

// Generated conversations join the corpus once, so most inputs are mutations of a seed, not new generations.
const generated = Array.from({ length: 2000 }, (_, i) => conversation(new Rng(0x5eed + i), [16, 300, 2000][i % 3]).bytes);

function frameInput(rng: Rng): Buffer {
  const r = rng.float();
  if (r < 0.1) return rng.bytes(rng.size(512));
  const base = r < 0.4 ? rng.pick(frameCorpus) : r < 0.85 ? rng.pick(generated) : conversation(rng, rng.pick([16, 300, 2000])).bytes;
  // Splice two seeds together now and then: a valid prefix, then something else.
  const joined = rng.bool(0.15) ? Buffer.concat([base, rng.pick(frameCorpus)]) : base;
  return rng.bool(0.85) ? mutate(rng, joined) : joined;
}

// ---- targets -------------------------------------------------------------------------------------------

interface Target {
  name: string;
  weight: number;
  run(rng: Rng): Problem[];
}

const targets: Target[] = [
  {
    name: "frame-parser",
    weight: 40,
    run(rng) {
      const input = frameInput(rng);
      return checkFrameParser(input, rng.pieces(input.length), rng.bool() ? "server" : "client", rng.pick([0, 1, 125, 126, 65535, 65536, 1 << 20]));
    },
  },
  {
    name: "session",
    weight: 30,
    run(rng) {
      // Half the time a valid conversation followed by a close: the session must reach "closed".
      if (rng.bool()) {
        const conv = conversation(rng, rng.pick([16, 300, 2000]));
        const run = checkSession(conv.bytes, rng.pieces(conv.bytes.length), { maxMessageSize: 4096, maxFramePayload: 4096 }, true);
        if (run.failedWith !== null) run.problems.push({ target: "session", what: `valid input failed with ${run.failedWith}` });
        if (run.state !== "closed") run.problems.push({ target: "session", what: `stalled in ${run.state} after a valid close` });
        return run.problems;
      }
      const input = frameInput(rng);
      return checkSession(input, rng.pieces(input.length), { maxMessageSize: rng.pick([64, 1024, 65536]), maxFramePayload: rng.pick([64, 1024, 65536]) }).problems;
    },
  },
  {
    name: "server",
    weight: 2,
    run(rng) {
      const raw = rng.bool(0.2);
      const input = raw ? Buffer.concat([mutate(rng, Buffer.from(UPGRADE, "latin1")), frameInput(rng)]) : frameInput(rng);
      return serveOverManualDriver(input, rng.pieces(input.length), { raw, readChunk: rng.pick([1, 7, 512, 65536]), maxMessageSize: rng.pick([256, 2048, 65536]) }).problems;
    },
  },
  {
    name: "request-head",
    weight: 15,
    run(rng) {
      const base = rng.bool(0.1) ? rng.bytes(rng.size(2000)) : rng.bool(0.3) ? Buffer.from(UPGRADE, "latin1") : requestHead(rng);
      const input = rng.bool(0.8) ? mutate(rng, base) : base;
      return checkHeadParser(input, rng.pieces(input.length), "request", rng.pick([32, 200, 1024, 16384]));
    },
  },
  {
    name: "response-head",
    weight: 10,
    run(rng) {
      const base = rng.bool(0.1) ? rng.bytes(rng.size(2000)) : responseHead(rng);
      const input = rng.bool(0.8) ? mutate(rng, base) : base;
      return checkHeadParser(input, rng.pieces(input.length), "response", rng.pick([32, 200, 1024, 16384]));
    },
  },
];

const totalWeight = targets.reduce((n, t) => n + t.weight, 0);
function pickTarget(r: number): Target {
  let x = r * totalWeight;
  for (const t of targets) {
    if ((x -= t.weight) < 0) return t;
  }
  return targets[targets.length - 1]!;
}

/** The seed of input number `n`: a stable mix of the master seed and the counter. */
function inputSeed(n: number): number {
  let h = (masterSeed ^ Math.imul(n + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

function runOne(target: Target, seed: number): Problem[] {
  try {
    return target.run(new Rng(seed));
  } catch (error) {
    return [{ target: target.name, what: `the checker itself threw: ${describeError(error)}` }];
  }
}

// ---- memory -----------------------------------------------------------------------------------------------

let gc: (() => void) | null = null;
try {
  setFlagsFromString("--expose-gc");
  gc = runInNewContext("gc") as () => void;
} catch {
  gc = null;
}
const heapNow = () => process.memoryUsage().heapUsed;
const heapAfterGc = () => {
  gc?.();
  gc?.();
  return heapNow();
};
const mb = (n: number) => (n / 1024 / 1024).toFixed(1);

// ---- main ---------------------------------------------------------------------------------------------------

if (values.replay) {
  const [name, seedText] = values.replay.split(":");
  const target = targets.find((t) => t.name === name);
  if (!target || seedText === undefined) {
    console.error(`--replay TARGET:SEED, TARGET one of ${targets.map((t) => t.name).join(", ")}`);
    process.exit(2);
  }
  const problems = runOne(target, Number(seedText));
  console.log(problems.length ? problems : "no problem");
  process.exit(problems.length ? 1 : 0);
}

interface Finding {
  target: string;
  what: string;
  seed: number;
  count: number;
}

const findings = new Map<string, Finding>();
const counts = new Map<string, number>(targets.map((t) => [t.name, 0]));
const started = Date.now();
const deadline = started + seconds * 1000;
// Warm up so the baseline includes the JIT's and the corpus's memory.
for (let n = 0; n < 2000; n++) runOne(pickTarget((inputSeed(-n - 1) % 10007) / 10007), inputSeed(-n - 1));
const baseline = heapAfterGc();
let maxSampled = baseline;
let maxAfterGc = baseline;
const heapSeries: string[] = [];
let n = 0;
let lastSample = Date.now();
let lastGc = Date.now();
let lastReport = Date.now();

console.log(`wsloop fuzz: ${seconds} s, seed ${masterSeed}, heap budget ${mb(heapBudget)} MB over a ${mb(baseline)} MB baseline (gc ${gc ? "on" : "unavailable"})`);

while (Date.now() < deadline) {
  // Batches between clock reads keep the loop cheap.
  for (let k = 0; k < 200; k++, n++) {
    const seed = inputSeed(n);
    const target = pickTarget((seed % 100_003) / 100_003);
    counts.set(target.name, counts.get(target.name)! + 1);
    for (const p of runOne(target, seed)) {
      // One finding per distinct message shape (numbers stripped), with the first seed for replay.
      const key = `${p.target}: ${p.what.replace(/\d+/g, "N")}`;
      const seen = findings.get(key);
      if (seen) seen.count++;
      else {
        findings.set(key, { target: target.name, what: `${p.target}: ${p.what}`, seed, count: 1 });
        console.log(`FINDING [${target.name}:${seed}] ${p.target}: ${p.what}`);
      }
    }
  }
  const now = Date.now();
  if (now - lastSample >= 1000) {
    lastSample = now;
    maxSampled = Math.max(maxSampled, heapNow());
  }
  if (now - lastGc >= 10_000) {
    lastGc = now;
    const retained = heapAfterGc();
    maxAfterGc = Math.max(maxAfterGc, retained);
    heapSeries.push(`${Math.round((now - started) / 1000)}s:${mb(retained)}`);
  }
  if (!values.quiet && now - lastReport >= 10_000) {
    lastReport = now;
    const elapsed = (now - started) / 1000;
    console.log(`  ${elapsed.toFixed(0)} s: ${n.toLocaleString("en")} inputs (${Math.round(n / elapsed).toLocaleString("en")}/s), heap ${mb(heapNow())} MB, findings ${findings.size}`);
  }
}

const elapsed = (Date.now() - started) / 1000;
const finalRetained = heapAfterGc();
maxAfterGc = Math.max(maxAfterGc, finalRetained);
const memoryHeld = maxAfterGc - baseline <= heapBudget;

console.log("");
console.log(`| target | inputs | inputs/s |`);
console.log(`|---|---:|---:|`);
for (const t of targets) {
  const c = counts.get(t.name)!;
  console.log(`| ${t.name} | ${c.toLocaleString("en")} | ${Math.round(c / elapsed).toLocaleString("en")} |`);
}
console.log(`| **total** | **${n.toLocaleString("en")}** | **${Math.round(n / elapsed).toLocaleString("en")}** |`);
console.log("");
console.log(`seed ${masterSeed}, ${elapsed.toFixed(0)} s on Node ${process.version}`);
console.log(
  `heap: baseline ${mb(baseline)} MB, highest sample ${mb(maxSampled)} MB, highest after GC ${mb(maxAfterGc)} MB ` +
    `(+${mb(maxAfterGc - baseline)} MB, budget +${mb(heapBudget)} MB: ${memoryHeld ? "held" : "EXCEEDED"}); after GC over time ${heapSeries.join(" ")}`,
);
if (findings.size === 0) console.log("findings: none");
else {
  console.log(`findings: ${findings.size}`);
  for (const f of findings.values()) console.log(`  - ${f.what} (×${f.count}; replay: npm run fuzz -- --replay ${f.target}:${f.seed})`);
}
process.exit(findings.size === 0 && memoryHeld ? 0 : 1);
