#include "commands.h"
#include <stdio.h>
int cmd_groups(int argc, char **argv) { (void)argc; fprintf(stderr, "%s: being written\n", argv[0]); return 1; }
