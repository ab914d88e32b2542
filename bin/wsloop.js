#!/usr/bin/env node
// The wsloop command; see `wsloop help`. Runs the built code in dist/ (npm install builds it).
import { main } from "../dist/cli/main.js";

const code = await main(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
