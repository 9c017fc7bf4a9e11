/*
 * rlimit.c - resource limits of the target: no core dumps (they would be
 * written outside the sandbox's control), a cap on file size and open
 * files, and CPU seconds. No RLIMIT_AS: PyTorch reserves large virtual
 * ranges. The wall-clock limit is the supervisor's (supervisor.c).
 */
#include <sys/resource.h>

#include "sandbox/sandbox.h"

static int
set1(int what, uint64_t soft, uint64_t hard)
{
    struct rlimit r;
    if (getrlimit(what, &r) != 0)
        return -1;
    /* Never raise: an unprivileged caller cannot, and should not. */
    if (r.rlim_max != RLIM_INFINITY && hard > r.rlim_max)
        hard = r.rlim_max;
    if (soft > hard)
        soft = hard;
    r.rlim_cur = (rlim_t)soft;
    r.rlim_max = (rlim_t)hard;
    return setrlimit(what, &r);
}

int
sb_rlimits_apply(uint64_t fsize, uint64_t nofile, uint64_t cpu)
{
    if (set1(RLIMIT_CORE, 0, 0) != 0 || set1(RLIMIT_FSIZE, fsize, fsize) ||
        set1(RLIMIT_NOFILE, nofile, nofile) != 0)
        return -1;
    /* SIGXCPU at the soft limit, SIGKILL a second later. */
    return set1(RLIMIT_CPU, cpu, cpu + 1);
}
