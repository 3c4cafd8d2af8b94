/* The library's version (meson.build's project version) and the git
 * description of the tree it was built from (meson's vcs_tag). */
#include "ripple/ripple.h"
#include "ripple_config.h"
#include "ripple_version.h"

const char *ripple_version(void) { return RIPPLE_VERSION; }

const char *ripple_build_describe(void) { return RIPPLE_GIT_DESCRIBE; }
