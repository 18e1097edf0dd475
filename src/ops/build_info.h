#ifndef RECD_OPS_BUILD_INFO_H
#define RECD_OPS_BUILD_INFO_H

/*
 * What recd_build_info reports. The Makefile writes build/gen/recd_build.h from git (rewritten
 * only when HEAD moves, so nothing else rebuilds); a build without it, or outside a git checkout,
 * says "unknown".
 */
#if defined(__has_include)
#if __has_include("recd_build.h")
#include "recd_build.h"
#endif
#endif

#ifndef RECD_BUILD_VERSION
#define RECD_BUILD_VERSION "unknown"
#endif
#ifndef RECD_BUILD_COMMIT
#define RECD_BUILD_COMMIT "unknown"
#endif

#endif
