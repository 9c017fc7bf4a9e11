/*
 * probe.c - what the kernel offers, for `modelgate sandbox --probe` and
 * tests. mg_sandbox_run() detects the same things itself when it starts
 * (the namespaces by trying them), so a probe is never a precondition.
 */
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

void
mg_sandbox_probe(struct mg_sandbox_features *out)
{
    out->landlock_abi = sb_landlock_abi();
    out->seccomp_notify = sb_seccomp_notify_available();
    out->user_namespaces = 0;
    pid_t pid = sb_ns_clone();
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        int st;
        if (waitpid(pid, &st, 0) == pid && WIFEXITED(st))
            out->user_namespaces = 1;
    }
    out->best = !out->seccomp_notify    ? MG_ISOLATION_NONE
                : !out->landlock_abi    ? MG_ISOLATION_NO_LANDLOCK
                : !out->user_namespaces ? MG_ISOLATION_NO_NAMESPACES
                                        : MG_ISOLATION_FULL;
}
