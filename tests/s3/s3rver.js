// Starts @20minutes/s3rver's command line: its package ships lib/cli.js but not the bin script
// its package.json names. Copied beside node_modules by the Makefile (build/s3rver).
'use strict';

require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
