/* ripple merge: the shards of a run (`--shard I/N`, engine.h) into the
 * tables, summary and figures the run writes unsharded.
 *
 * Each shard's rows table says which shard it is (`# shard: I/N`) and the
 * command that made it (`# shard_command:`). merge runs that experiment
 * again from the command, without --shard, with role EXP_MERGE: the engine
 * plans the same units (the captures are opened again), takes every row
 * from the shards, refuses shards of other options or captures, names a
 * shard that lacks rows, and then writes what an unsharded run writes. */
#include "commands.h"
#include "experiments.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const exp_def *const exp_registry[] = {&exp_window, &exp_groups, &exp_steps, &exp_fit, &exp_compare, &exp_quality, &exp_frames, NULL};

static const char usage[] =
    "usage: ripple merge DIR... [--out OUT] [--svg] [--pdf]\n\n"
    "Combines the shards of a sweep (an experiment run with --shard I/N, by hand,\n"
    "as a Slurm array or under mpirun of a build without MPI) into the files the\n"
    "same command writes unsharded: its TSV (the rows in the order of an unsharded\n"
    "run), summary, gnuplot script and figure.\n\n"
    "DIR is the --out folder the shards were given (it holds shard-I-of-N/), or a\n"
    "shard's own folder; several may be given. Every shard 1..N must be there,\n"
    "finished, and run with the same options on the same captures, or merge says\n"
    "which is missing or different and writes nothing. The captures must still be\n"
    "readable: the experiment plans its units again from them.\n\n"
    "options:\n"
    "  --out OUT          where the merged files go (default: the folder holding the\n"
    "                     shard-I-of-N folders, when they share one)\n"
    "  --svg, --pdf       also render the figures as SVG / PDF\n"
    "  -h, --help         this text\n";

#define MAX_SHARDS 4096

typedef struct {
    char *dir;          /* the shard's folder */
    const exp_def *def; /* from its rows table */
    int shard, nshards;
    char *command;      /* its # shard_command: line */
} shard_info;

static int merge_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int merge_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ripple merge: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (code == CLI_EXIT_USAGE) fprintf(stderr, "Try 'ripple merge --help'.\n");
    return code;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* "shard-I-of-N" */
static int shard_folder_name(const char *name)
{
    int i, n, len = 0;
    return sscanf(name, "shard-%d-of-%d%n", &i, &n, &len) == 2 && (size_t)len == strlen(name);
}

/* The shard folders of DIR (its shard-I-of-N children, sorted), or DIR itself. */
static int add_dirs(const char *dir, char **out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return merge_fail(CLI_EXIT_DATA, "cannot read %s: %s", dir, strerror(errno));
    int first = *n;
    for (struct dirent *e; (e = readdir(d));) {
        if (!shard_folder_name(e->d_name)) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p || *n >= MAX_SHARDS) {
            free(p);
            closedir(d);
            return merge_fail(CLI_EXIT_DATA, "too many shard folders (or out of memory)");
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        if (is_dir(p)) out[(*n)++] = p;
        else free(p);
    }
    closedir(d);
    if (*n > first) {
        qsort(out + first, (size_t)(*n - first), sizeof *out, cmp_str);
        return 0;
    }
    if (*n >= MAX_SHARDS || !(out[*n] = strdup(dir))) return merge_fail(CLI_EXIT_DATA, "out of memory");
    (*n)++;
    return 0;
}

/* Which experiment's shard dir holds, from its rows table. */
static int read_shard(const char *dir, shard_info *s)
{
    char path[4200];
    s->dir = (char *)dir;
    for (int k = 0; exp_registry[k]; k++) {
        const exp_def *d = exp_registry[k];
        snprintf(path, sizeof path, "%s/%s.tsv", dir, d->tables[0].name);
        rtable *t = rtable_load_tsv(path);
        if (!t) {
            snprintf(path, sizeof path, "%s/%s.tsv.partial", dir, d->tables[0].name);
            if (!(t = rtable_load_tsv(path))) continue;
            const char *cmd = rtable_meta_get(t, "shard_command");
            int rc = merge_fail(CLI_EXIT_DATA, "%s: the shard is not finished (only %s.tsv.partial): rerun %s to resume it",
                                dir, d->tables[0].name, cmd ? cmd : "its command");
            rtable_free(t);
            return rc;
        }
        const char *sh = rtable_meta_get(t, "shard"), *cmd = rtable_meta_get(t, "shard_command");
        int i = 0, n = 0, len = 0;
        if (!sh || !cmd || sscanf(sh, "%d/%d%n", &i, &n, &len) != 2 || sh[len] || i < 1 || i > n) {
            rtable_free(t);
            return merge_fail(CLI_EXIT_DATA, "%s is not a shard's table (no `# shard: I/N` and `# shard_command:` lines): "
                              "give the folders that --shard wrote", path);
        }
        *s = (shard_info){(char *)dir, d, i, n, strdup(cmd)};
        rtable_free(t);
        return s->command ? 0 : merge_fail(CLI_EXIT_DATA, "out of memory");
    }
    return merge_fail(CLI_EXIT_DATA, "%s holds no shard (no rows table of window, groups, steps, fit, compare, quality or frames): "
                      "give the --out folder of the shards, or the shard-I-of-N folders", dir);
}

/* Splits a command written by exp_cmdline (words, or '...' with '\'' for a
 * quote) in place. Returns the word count, or -1. */
static int split_words(char *s, char **w, int max)
{
    int n = 0;
    char *out = s;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        if (n == max) return -1;
        w[n++] = out;
        while (*s && *s != ' ') {
            if (*s == '\'') {
                for (s++; *s && *s != '\''; s++) *out++ = *s;
                if (!*s) return -1;
                s++;
            } else if (*s == '\\' && s[1]) {
                *out++ = s[1], s += 2;
            } else {
                *out++ = *s++;
            }
        }
        if (*s) s++;
        *out++ = '\0';
    }
    return n;
}

/* The shard's command, "--shard I/N" replaced by shard k's, into buf. */
static const char *command_for(const shard_info *s, int k, char *buf, size_t n)
{
    char from[64];
    snprintf(from, sizeof from, " --shard %d/%d", s->shard, s->nshards);
    const char *at = strstr(s->command, from);
    if (!at) snprintf(buf, n, "%s", s->command);
    else snprintf(buf, n, "%.*s --shard %d/%d%s", (int)(at - s->command), s->command, k, s->nshards, at + strlen(from));
    return buf;
}

int cmd_merge(int argc, char **argv)
{
    static const struct option longopts[] = {{"out", required_argument, 0, 'o'}, {"svg", no_argument, 0, 's'},
                                             {"pdf", no_argument, 0, 'p'},       {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    const char *out = NULL;
    int svg = 0, pdf = 0, c;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (!*optarg) return merge_fail(CLI_EXIT_USAGE, "--out: empty value");
            out = optarg;
            break;
        case 's': svg = 1; break;
        case 'p': pdf = 1; break;
        case 'h': printf("%s", usage); return CLI_EXIT_OK;
        case ':': return merge_fail(CLI_EXIT_USAGE, "option %s needs a value", argv[optind - 1]);
        default: return merge_fail(CLI_EXIT_USAGE, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc) return merge_fail(CLI_EXIT_USAGE, "missing DIR (the --out folder of the shards)");

    static char *dirs[MAX_SHARDS];
    static shard_info sh[MAX_SHARDS];
    int ndirs = 0, rc = 0, nsh = 0;
    exp_run *r = NULL;
    char *words_buf = NULL;
    for (int a = optind; a < argc && !rc; a++) {
        if (!is_dir(argv[a])) rc = merge_fail(CLI_EXIT_DATA, "%s is not a folder", argv[a]);
        else rc = add_dirs(argv[a], dirs, &ndirs);
    }
    for (int k = 0; k < ndirs && !rc; k++, nsh++) rc = read_shard(dirs[k], &sh[k]);
    if (rc) goto done;

    /* one run: one experiment, one N, each shard once, none missing */
    const shard_info *by[MAX_SHARDS + 1] = {0};
    const int N = sh[0].nshards;
    for (int k = 0; k < nsh && !rc; k++) {
        if (sh[k].def != sh[0].def || sh[k].nshards != N)
            rc = merge_fail(CLI_EXIT_DATA, "%s (ripple %s, shard %d/%d) and %s (ripple %s, shard %d/%d) are not shards of "
                            "one run", sh[0].dir, sh[0].def->name, sh[0].shard, N, sh[k].dir, sh[k].def->name, sh[k].shard,
                            sh[k].nshards);
        else if (N > MAX_SHARDS) rc = merge_fail(CLI_EXIT_DATA, "%d shards: at most %d", N, MAX_SHARDS);
        else if (by[sh[k].shard])
            rc = merge_fail(CLI_EXIT_DATA, "shard %d/%d is given twice: %s and %s", sh[k].shard, N, by[sh[k].shard]->dir,
                            sh[k].dir);
        else by[sh[k].shard] = &sh[k];
    }
    if (rc) goto done;
    char missing[2048] = "", cmd[4200];
    int nmissing = 0, first_missing = 0;
    for (int i = 1; i <= N; i++) {
        if (by[i]) continue;
        size_t len = strlen(missing);
        if (!nmissing++) first_missing = i;
        if (len + 16 < sizeof missing) snprintf(missing + len, sizeof missing - len, "%s%d/%d", len ? ", " : "", i, N);
    }
    if (nmissing) {
        rc = merge_fail(CLI_EXIT_DATA, "missing shard%s %s: run %s%s", nmissing > 1 ? "s" : "", missing,
                        command_for(&sh[0], first_missing, cmd, sizeof cmd), nmissing > 1 ? " (and likewise the others)" : "");
        goto done;
    }

    /* where the merge goes: --out, or the folder holding shard-I-of-N */
    static char parent[4200];
    if (!out) {
        for (int i = 1; i <= N && !rc; i++) {
            const char *d = by[i]->dir, *slash = strrchr(d, '/');
            char p[4200];
            if (!slash || !shard_folder_name(slash + 1)) {
                rc = merge_fail(CLI_EXIT_USAGE, "%s is not a shard-I-of-N folder: give --out OUT", d);
                break;
            }
            snprintf(p, sizeof p, "%.*s", (int)(slash - d), d);
            if (i == 1) snprintf(parent, sizeof parent, "%s", p);
            else if (strcmp(p, parent)) rc = merge_fail(CLI_EXIT_USAGE, "the shards are in different folders: give --out OUT");
        }
        if (rc) goto done;
        out = parent;
    }

    /* the experiment from shard 1's command, without --shard and --out */
    const exp_def *def = sh[0].def;
    char *words[4 * EXP_MAX_OWN + 64];
    if (!(words_buf = strdup(by[1]->command))) {
        rc = merge_fail(CLI_EXIT_DATA, "out of memory");
        goto done;
    }
    int nw = split_words(words_buf, words, (int)(sizeof words / sizeof words[0]));
    if (nw < 2 || strcmp(words[0], "ripple") || strcmp(words[1], def->name)) {
        rc = merge_fail(CLI_EXIT_DATA, "%s: its # shard_command: line is not a ripple %s command", by[1]->dir, def->name);
        goto done;
    }
    int kept = 0;
    for (int k = 1; k < nw; k++) {
        if ((!strcmp(words[k], "--shard") || !strcmp(words[k], "--out")) && k + 1 < nw) {
            k++;
            continue;
        }
        if (!strcmp(words[k], "--fresh")) continue;
        words[kept++] = words[k];
    }
    words[kept] = NULL;
    if (!(r = exp_new(def))) {
        rc = merge_fail(CLI_EXIT_DATA, "out of memory");
        goto done;
    }
    r->role = EXP_MERGE;
    rc = exp_parse(r, kept, words);
    if (rc) {
        exp_report(r, rc);
        goto done;
    }
    r->c.out_dir = out;
    r->c.svg |= svg, r->c.pdf |= pdf;
    r->merge_n = N;
    r->merge_dirs = exp_alloc(r, (size_t)N, sizeof *r->merge_dirs);
    r->merge_tabs = exp_alloc(r, (size_t)N * (size_t)def->ntables, sizeof *r->merge_tabs);
    if (!r->merge_dirs || !r->merge_tabs) {
        rc = merge_fail(CLI_EXIT_DATA, "out of memory");
        goto done;
    }
    for (int i = 1; i <= N; i++) r->merge_dirs[i - 1] = by[i]->dir;
    rc = exp_execute(r);
    exp_report(r, rc);
    if (!rc) fprintf(stderr, "ripple merge: %d shards of ripple %s merged into %s\n", N, def->name, out);

done:
    exp_free(r);
    free(words_buf);
    for (int k = 0; k < nsh; k++) free(sh[k].command);
    for (int k = 0; k < ndirs; k++) free(dirs[k]);
    return rc;
}
