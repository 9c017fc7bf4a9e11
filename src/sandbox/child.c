/*
 * child.c - what the child does between clone() and execve(), in the
 * order of reference B4: wait for the id maps, mounts (inside the
 * namespaces), setsid, rlimits, capabilities, no-new-privs, Landlock, the
 * seccomp filters; hand the listener's number to the supervisor (which
 * takes it with pidfd_getfd, so no sendmsg is needed under the filter),
 * wait, close the listener, mark every descriptor above 2 close-on-exec,
 * execve an absolute path with a clean environment. Any failure is
 * reported as a stage and an errno, then _exit(127).
 */
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

__attribute__((noreturn)) static void
fail(int ipc, enum sb_stage stage, int err)
{
    struct sb_msg m = {.type = SB_MSG_ERROR,
                       .stage = stage,
                       .err = err > 0 && err < 4096 ? (uint32_t)err : EIO};
    sb_ipc_send(ipc, &m);
    _exit(127);
}

static void
wait_go(int ipc)
{
    struct sb_msg m;
    if (sb_ipc_recv(ipc, &m, 30000) != MG_OK || m.type != SB_MSG_GO)
        fail(ipc, SB_STAGE_SYNC, EPROTO);
}

void
sb_child_main(const struct sb_child_args *a)
{
    int ipc = a->ipc_fd;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    wait_go(ipc);
    struct sb_msg ready = {.type = SB_MSG_READY};
    if (a->namespaces) {
        int proc = 0;
        if (sb_ns_setup_mounts(&proc) != 0)
            fail(ipc, SB_STAGE_MOUNT, errno);
        if (proc)
            ready.flags |= SB_READY_PROC;
        if (a->allow_loopback) {
            if (sb_ns_loopback_up() != 0)
                fail(ipc, SB_STAGE_LOOPBACK, errno);
            ready.flags |= SB_READY_LOOPBACK;
        }
    }
    /* A new session: no controlling terminal, so no TIOCSTI into the
       caller's shell (CVE-2017-5226), and a process group to kill. */
    if (setsid() < 0)
        fail(ipc, SB_STAGE_SETSID, errno);
    if (sb_rlimits_apply(a->fsize, a->nofile, a->cpu) != 0)
        fail(ipc, SB_STAGE_RLIMIT, errno);
    if (a->cwd != NULL && chdir(a->cwd) != 0)
        fail(ipc, SB_STAGE_CWD, errno);
    if (sb_caps_drop_all() != 0)
        fail(ipc, SB_STAGE_CAPS, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        fail(ipc, SB_STAGE_NNP, errno);
    if (a->landlock_abi > 0) {
        if (sb_landlock_apply(a->landlock_abi, a->allow, a->nallow,
                              !a->allow_loopback) != 0)
            fail(ipc, SB_STAGE_LANDLOCK, errno);
        ready.landlock_abi = (uint32_t)a->landlock_abi;
    }
    int nfd = -1;
    if (a->seccomp) {
        int rc = sb_seccomp_install(&nfd);
        if (rc != 0)
            fail(ipc, SB_STAGE_SECCOMP, -rc);
        ready.notify_fd = (uint32_t)nfd;
    }
    /* From here on the filter is in place: read/write on the socketpair
       and close are not notified; execve is, and the supervisor is
       answering by then. */
    if (sb_ipc_send(ipc, &ready) != 0)
        _exit(127);
    wait_go(ipc);
    if (nfd >= 0)
        close(nfd); /* the target must never hold the listener */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
        fail(ipc, SB_STAGE_EXEC, errno);
    execve(a->path, a->argv, a->envp);
    fail(ipc, SB_STAGE_EXEC, errno);
}
