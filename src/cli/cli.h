#ifndef RECD_CLI_CLI_H
#define RECD_CLI_CLI_H

/**
 * Runs the `recd` command line (contract §6) and returns the process exit status: 0 on success,
 * 2 on bad usage or bad input (with a one-line reason on stderr and nothing changed), 1 on any
 * other failure.
 */
int recd_cli_main(int argc, char **argv);

#endif
