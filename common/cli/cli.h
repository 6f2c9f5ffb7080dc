/*
 * cli.h -- subcommands of the pelmap command line that are not job kinds.
 * Each takes main's argc/argv (argv[1] is the subcommand) and returns the
 * process exit status: 0 success, 1 computation failure, 2 bad usage.
 */
#ifndef PELMAP_CLI_H
#define PELMAP_CLI_H

/* pelmap random: seeded random starting configuration (random.c). */
int cli_random(int argc, char **argv);

#endif
