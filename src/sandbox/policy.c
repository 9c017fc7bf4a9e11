/*
 * policy.c - which syscalls reach the supervisor (one table, read by
 * seccomp.c to build the filter) and what it answers (sb_decide, a pure
 * function, unit-tested).
 *
 * The TOCTOU rule (reference B4): another thread of the target can
 * rewrite a buffer after the supervisor read it. So a decision to let a
 * call run never rests on pointer contents alone: it is either made on
 * registers (flags, family, fd), or backed by a kernel layer that enforces
 * the same rule (Landlock for writes below the allowed folders, the empty
 * network namespace for loopback), or emulated by the supervisor with its
 * own copy of the argument (connect). Deny decisions may use anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "sandbox/sandbox.h"

/* Syscalls newer than glibc 2.36's table, by x86_64/generic number. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif
#define SB_SYS_setxattrat    463
#define SB_SYS_removexattrat 466

#define NO (-1)
/* name, class, dirfd, path, dirfd2, path2, flags, rule */
#define E(n, cls, d, p, d2, p2, f, rule)        \
    {                                           \
        SYS_##n, #n, cls, d, p, d2, p2, f, rule \
    }
#define PRIV(n, rule)    E(n, SB_PRIV, NO, NO, NO, NO, NO, rule)
#define PATH1(n, cls, p) E(n, cls, NO, p, NO, NO, NO, NULL)
#define AT1(n, cls)      E(n, cls, 0, 1, NO, NO, NO, NULL)
#define FD1(n, cls)      E(n, cls, NO, NO, NO, NO, NO, NULL)

static const struct sb_sysinfo table[] = {
    E(execve, SB_EXEC, NO, 0, NO, NO, NO, NULL),
    E(execveat, SB_EXEC, 0, 1, NO, NO, NO, NULL),
#ifdef SYS_fork
    FD1(fork, SB_FORK),
    FD1(vfork, SB_FORK),
#endif
    FD1(clone, SB_CLONE),
    FD1(socket, SB_SOCKET),
    FD1(connect, SB_CONNECT),
    FD1(bind, SB_BIND),
    FD1(sendto, SB_SENDTO),
    FD1(sendmsg, SB_SENDMSG),
    FD1(sendmmsg, SB_SENDMMSG),
#ifdef SYS_open
    E(open, SB_OPEN, NO, 0, NO, NO, 1, NULL),
    PATH1(creat, SB_OPEN, 0),
#endif
    E(openat, SB_OPEN, 0, 1, NO, NO, 2, NULL),
#ifdef SYS_unlink
    PATH1(unlink, SB_FSMUT, 0),
    E(rename, SB_FSMUT, NO, 0, NO, 1, NO, NULL),
    PATH1(mkdir, SB_FSMUT, 0),
    PATH1(rmdir, SB_FSMUT, 0),
    PATH1(symlink, SB_FSMUT, 1),
    E(link, SB_FSMUT, NO, 0, NO, 1, NO, NULL),
    PATH1(mknod, SB_FSMUT, 0),
#endif
    AT1(unlinkat, SB_FSMUT),
    E(renameat, SB_FSMUT, 0, 1, 2, 3, NO, NULL),
    E(renameat2, SB_FSMUT, 0, 1, 2, 3, NO, NULL),
    AT1(mkdirat, SB_FSMUT),
    E(symlinkat, SB_FSMUT, 1, 2, NO, NO, NO, NULL),
    E(linkat, SB_FSMUT, 0, 1, 2, 3, NO, NULL),
    AT1(mknodat, SB_FSMUT),
    PATH1(truncate, SB_FSMUT, 0),
#ifdef SYS_chmod
    PATH1(chmod, SB_PERM, 0),
    PATH1(chown, SB_PERM, 0),
    PATH1(lchown, SB_PERM, 0),
    PATH1(utime, SB_PERM, 0),
    PATH1(utimes, SB_PERM, 0),
    AT1(futimesat, SB_PERM),
#endif
    FD1(fchmod, SB_PERM),
    AT1(fchmodat, SB_PERM),
    AT1(fchmodat2, SB_PERM),
    FD1(fchown, SB_PERM),
    AT1(fchownat, SB_PERM),
    PATH1(setxattr, SB_PERM, 0),
    PATH1(lsetxattr, SB_PERM, 0),
    FD1(fsetxattr, SB_PERM),
    PATH1(removexattr, SB_PERM, 0),
    PATH1(lremovexattr, SB_PERM, 0),
    FD1(fremovexattr, SB_PERM),
    {SB_SYS_setxattrat, "setxattrat", SB_PERM, 0, 1, NO, NO, NO, NULL},
    {SB_SYS_removexattrat, "removexattrat", SB_PERM, 0, 1, NO, NO, NO, NULL},
    AT1(utimensat, SB_PERM),
    PRIV(ptrace, "priv.ptrace"),
    PRIV(process_vm_readv, "priv.ptrace"),
    PRIV(process_vm_writev, "priv.ptrace"),
    PRIV(pidfd_getfd, "priv.ptrace"),
    PRIV(kcmp, "priv.ptrace"),
    PRIV(mount, "priv.mount"),
    PRIV(umount2, "priv.mount"),
    PRIV(pivot_root, "priv.mount"),
    PRIV(chroot, "priv.mount"),
    PRIV(open_tree, "priv.mount"),
    PRIV(move_mount, "priv.mount"),
    PRIV(fsopen, "priv.mount"),
    PRIV(fsconfig, "priv.mount"),
    PRIV(fsmount, "priv.mount"),
    PRIV(fspick, "priv.mount"),
    PRIV(mount_setattr, "priv.mount"),
    PRIV(open_by_handle_at, "priv.mount"),
    PRIV(name_to_handle_at, "priv.mount"),
    PRIV(unshare, "priv.namespace"),
    PRIV(setns, "priv.namespace"),
    PRIV(bpf, "priv.bpf"),
    PRIV(perf_event_open, "priv.bpf"),
    PRIV(userfaultfd, "priv.other"),
    PRIV(fanotify_init, "priv.other"),
    PRIV(keyctl, "priv.keys"),
    PRIV(add_key, "priv.keys"),
    PRIV(request_key, "priv.keys"),
    PRIV(init_module, "priv.module"),
    PRIV(finit_module, "priv.module"),
    PRIV(delete_module, "priv.module"),
    PRIV(kexec_load, "priv.module"),
    PRIV(kexec_file_load, "priv.module"),
    PRIV(reboot, "priv.other"),
    PRIV(swapon, "priv.other"),
    PRIV(swapoff, "priv.other"),
    PRIV(acct, "priv.other"),
    PRIV(quotactl, "priv.other"),
    PRIV(settimeofday, "priv.other"),
    PRIV(clock_settime, "priv.other"),
    PRIV(clock_adjtime, "priv.other"),
    PRIV(adjtimex, "priv.other"),
    PRIV(syslog, "priv.other"),
    PRIV(vhangup, "priv.other"),
#ifdef SYS_iopl
    PRIV(iopl, "priv.other"),
    PRIV(ioperm, "priv.other"),
#endif
    PRIV(io_uring_setup, "priv.io_uring"),
    PRIV(io_uring_enter, "priv.io_uring"),
    PRIV(io_uring_register, "priv.io_uring"),
};

const struct sb_sysinfo *
sb_sys_table(size_t *n)
{
    *n = sizeof(table) / sizeof(table[0]);
    return table;
}

const struct sb_sysinfo *
sb_sys_lookup(int nr)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].nr == nr)
            return &table[i];
    return NULL;
}

/* Unix sockets an allowed connect may reach: glibc asks nscd for user
   names (libglog does, when torch is imported); glibc falls back to the
   files when it is absent. The connect is emulated, so the path is ours. */
static const char *const unix_allowed[] = {"/var/run/nscd/socket",
                                           "/run/nscd/socket"};

#define NS_FLAGS                                                            \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | \
                CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP))

static void
set(struct sb_verdict *v,
    const char *rule,
    const char *cat,
    const char *sev,
    int deny,
    int err)
{
    v->rule = rule;
    v->category = cat;
    v->severity = sev;
    v->policy_deny = deny;
    v->action = deny ? SB_FAIL : SB_CONTINUE;
    v->err = deny ? err : 0;
}

static int
beneath_any(const struct sb_ctx *c, const char *p)
{
    for (size_t i = 0; i < c->nallow; i++)
        if (sb_path_beneath(p, c->allow[i]))
            return 1;
    return 0;
}

static void
decide_net(const struct sb_ctx *c,
           const struct sb_sysinfo *si,
           const struct sb_decoded *d,
           struct sb_verdict *v)
{
    const int is_bind = si->cls == SB_BIND;
    const int is_connect = si->cls == SB_CONNECT;
    if (d->read_failed) {
        set(v, "net.unreadable", "network", "medium", 1, EACCES);
        return;
    }
    if (!d->have_addr) { /* sendmsg on a connected socket */
        set(v, "net.send", "network", "info", 0, 0);
        v->silent = 1;
        return;
    }
    const struct sb_addr *a = &d->addr;
    if (a->family == AF_UNIX) {
        if (is_connect && a->unix_path) {
            for (size_t i = 0; i < sizeof(unix_allowed) / sizeof(*unix_allowed);
                 i++)
                if (strcmp(a->text, unix_allowed[i]) == 0) {
                    set(v, "net.unix_connect", "network", "info", 0, 0);
                    v->action = SB_EMULATE;
                    return;
                }
        }
        set(v, is_bind ? "net.bind" : "net.unix_connect", "network", "medium",
            1, EACCES);
        return;
    }
    if ((a->family == AF_INET || a->family == AF_INET6) && a->loopback) {
        if (c->allow_loopback && c->namespaces) {
            /* The network namespace has nothing but lo: whatever address
               the target swaps in, an inet socket reaches only it. */
            set(v, "net.loopback", "network", "info", 0, 0);
            if (is_connect)
                v->action = SB_EMULATE;
            return;
        }
        set(v, is_bind ? "net.bind" : "net.loopback", "network", "medium", 1,
            EACCES);
        return;
    }
    set(v, is_bind ? "net.bind" : "net.outbound", "network", "high", 1, EACCES);
}

static void
decide_fs(const struct sb_ctx *c,
          const struct sb_sysinfo *si,
          const struct sb_decoded *d,
          struct sb_verdict *v)
{
    if (!d->have_rpath || (si->path2 != NO && !d->have_rpath2)) {
        set(v, "fs.write_unresolved", "filesystem", "medium", 1, EACCES);
        return;
    }
    int inside = beneath_any(c, d->rpath) &&
                 (si->path2 == NO || beneath_any(c, d->rpath2));
    if (!inside && si->cls == SB_OPEN && strcmp(d->rpath, "/dev/null") == 0)
        inside = 1;
    if (!inside) {
        set(v, "fs.write_outside", "filesystem", "high", 1, EACCES);
        return;
    }
    if (!c->landlock) {
        /* Nothing in the kernel would stop a path swapped after our
           check: refuse (docs/sandbox.md, rung no-landlock). */
        set(v, "fs.write_unenforced", "filesystem", "medium", 1, EACCES);
        return;
    }
    set(v, "fs.write", "filesystem", "info", 0, 0);
}

void
sb_decide(const struct sb_ctx *c,
          const struct sb_sysinfo *si,
          const struct sb_call *call,
          const struct sb_decoded *d,
          struct sb_verdict *v)
{
    memset(v, 0, sizeof(*v));
    int always = 0; /* refused in monitor mode too */
    switch (si->cls) {
    case SB_EXEC:
        if (!c->exec_done && call->tid == c->first_tid) {
            set(v, "exec.start", "process", "info", 0, 0);
            return; /* the launcher's own execve: never monitored away */
        }
        if (si->path == 1 && (call->args[4] & AT_EMPTY_PATH))
            set(v, "exec.fileless", "process", "high", 1, EPERM);
        else
            set(v, "process.exec", "process", "high", 1, EPERM);
        break;
    case SB_FORK:
        set(v, "process.spawn", "process", "high", 1, EAGAIN);
        break;
    case SB_CLONE:
        if (call->args[0] & NS_FLAGS) {
            set(v, "priv.namespace", "privilege", "high", 1, EPERM);
            always = 1;
        } else {
            set(v, "process.spawn", "process", "high", 1, EAGAIN);
        }
        break;
    case SB_SOCKET: {
        int dom = (int)call->args[0];
        if ((dom == AF_INET || dom == AF_INET6) && c->allow_loopback &&
            c->namespaces)
            set(v, "net.socket", "network", "info", 0, 0);
        else
            set(v, "net.socket", "network", "high", 1, EACCES);
        break;
    }
    case SB_CONNECT:
    case SB_BIND:
    case SB_SENDTO:
    case SB_SENDMSG:
    case SB_SENDMMSG:
        decide_net(c, si, d, v);
        break;
    case SB_OPEN:
    case SB_FSMUT:
        decide_fs(c, si, d, v);
        break;
    case SB_PERM:
        /* Landlock does not cover these: no path makes them safe. */
        set(v, "fs.perm_change", "filesystem", "high", 1, EPERM);
        break;
    case SB_PRIV:
        set(v, si->rule, "privilege", "high", 1, EPERM);
        always = 1;
        break;
    default:
        set(v, "internal", "internal", "high", 1, ENOSYS);
        always = 1;
        break;
    }
    if (c->monitor && v->policy_deny && !always) {
        v->action = SB_CONTINUE;
        v->err = 0;
    }
}
