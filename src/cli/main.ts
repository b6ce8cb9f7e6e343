#!/usr/bin/env node
/** Entry point of the kidney-volumes command. */
import { runCli } from './program.js';

// Exit explicitly: a sidecar that abandoned a study on SIGTERM may still have a request in flight.
process.exit(await runCli(process.argv.slice(2)));
