#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm install` (prepare) or `npm run build`.
//
// The server commands want V8 flags that only work on node's own command line
// (a larger young generation; see src/cli/node-flags.ts for why and what it
// measured). When they are missing, this restarts node with them and stands
// by: signals go to the server, its exit code or signal comes back. Give the
// flag yourself (`node --max-semi-space-size=16 bin/hotshard.js start`, or in
// NODE_OPTIONS) and hotshard runs in this process with your value.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('hotshard: dist/ is missing; run `npm run build` first');
  process.exit(1);
}
const { SERVER_COMMANDS, missingNodeFlags } = await import(
  new URL('../dist/cli/node-flags.js', import.meta.url).href
);
// Not on Windows, which has no process groups to hand signals on with: there
// hotshard runs as started.
const missing =
  process.platform !== 'win32' && SERVER_COMMANDS.has(process.argv[2])
    ? missingNodeFlags(process.execArgv, process.env.NODE_OPTIONS)
    : [];
if (missing.length === 0) {
  await import(entry.href);
} else {
  // Its own process group: a Ctrl-C in the terminal reaches this process only,
  // and is handed on once (the server takes a second signal as "exit now").
  const child = spawn(process.execPath, [...missing, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    detached: true,
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`hotshard: could not start node: ${err.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Die of the same signal, so whoever started us sees what the server saw.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}
