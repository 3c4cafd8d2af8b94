/* Subcommands of the `ripple` executable. Each takes argv with argv[0] the
 * subcommand name, parses its options with getopt_long, and returns an exit
 * code (see cli.h). Each must answer --help with its usage on stdout, exit 0.
 * The experiments (experiments.h) have no function of their own: ripple.c
 * runs their descriptions with exp_main. */
#ifndef RIPPLE_COMMANDS_H
#define RIPPLE_COMMANDS_H

int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
