#!/usr/bin/env node
// pghactl: the patronictl-compatible operator CLI.
import { runCli } from './main.js';

const code = await runCli(process.argv.slice(2), {
  stdin: process.stdin,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  stdoutIsTTY: process.stdout.isTTY === true,
  stdinIsTTY: process.stdin.isTTY === true,
  env: process.env,
  cwd: process.cwd(),
});
// Exit once the output is flushed (pipes are asynchronous), even if a DCS client left a handle open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
