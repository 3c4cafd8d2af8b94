/* ripple: git-style front end. `ripple CMD --help` explains each command. */
#include "commands.h"
#include "cli.h"
#include "experiments.h"
#include "ripple_version.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const exp_def *def; /* an experiment (run NULL): exp_main runs it */
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, NULL, "describe a capture: grid, groups, steps, layers, window deltas"},
    {"eval", cmd_eval, NULL, "reuse and baselines on one (step, layer): savings and output error"},
    {"synth", cmd_synth, NULL, "write a synthetic capture with planted spatio-temporal correlation"},
    {"bench", cmd_bench, NULL, "time CPU exact attention against OpenBLAS sgemm"},
    {"compare", NULL, &exp_compare, "reuse vs masking baselines at equal savings (Fig. 7, Tables 2-4)"},
    {"steps", NULL, &exp_steps, "output error per denoising step at a fixed threshold (Fig. 8, 9)"},
    {"fit", NULL, &exp_fit, "fit a threshold ramp over steps for a target error (Table 1, Eq. 4)"},
    {"window", NULL, &exp_window, "savings and error per window size (Fig. 11)"},
    {"groups", NULL, &exp_groups, "forced reuse per channel group and axis (Fig. 5)"},
    {"generate", cmd_generate, NULL, "generate a clip of tiny-vdit in C, a method inside the denoising loop"},
    {"quality", NULL, &exp_quality, "PSNR/SSIM against the dense clip at matched s_attn (Tables 2-4)"},
    {"frames", NULL, &exp_frames, "forced reuse per channel group and axis, in generated frames (Fig. 5)"},
    {"paper", NULL, &exp_paper, "run every experiment and write an index of figures and tables"},
    {"merge", cmd_merge, NULL, "join the shards of a sweep (--shard I/N) into its tables and figures"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ripple COMMAND [OPTIONS] [ARGS]\n\n"
               "Attention reuse between adjacent tokens of video diffusion transformers\n"
               "(TIMERIPPLE, arXiv 2511.12035), replayed on captured Q/K/V.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`ripple COMMAND --help` for the options of one command.\n"
               "Exit status: 0 ok, 1 data error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    cli_check_stdout_at_exit();
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ripple %s (%s)\n", ripple_version(), ripple_build_describe());
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) {
            cli_cmd = commands[i].name;
            if (commands[i].def) return exp_main(commands[i].def, argc - 1, argv + 1);
            return commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ripple: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
