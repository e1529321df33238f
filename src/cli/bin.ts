#!/usr/bin/env node
// The installed `fieldmesh` binary: nothing but the call, so what tests spawn is what ships.
import { main } from './main.js';

process.exitCode = await main(process.argv);
