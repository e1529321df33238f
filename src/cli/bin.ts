#!/usr/bin/env node
// The installed `fieldmesh` binary: nothing but the call, so what tests spawn is what ships.
import { main } from './main.js';

// A reader that stops early (`fieldmesh audit query | head -1`) closes the pipe: that is its choice, not a
// failure, so the command ends quietly with 0. Any other failure to write stdout is one line and 2.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') process.stderr.write(`fieldmesh: cannot write to stdout (${String(err.code ?? 'error')})\n`);
  process.exit(err.code === 'EPIPE' ? 0 : 2);
});

process.exitCode = await main(process.argv);
