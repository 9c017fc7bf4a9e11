/*
 * seccomp.c - the only file that includes <seccomp.h>: builds the filters
 * from the policy table, and wraps the user-notification calls.
 *
 * Two filters are loaded, both before execve and after no-new-privs:
 * 1. a small hand-written one that fails with ENOSYS every native syscall
 *    newer than the policy was reviewed against (SB_MAX_REVIEWED_NR),
 *    so that a future *at() variant cannot walk around the notifying
 *    rules; libseccomp 2.5.4 only names syscalls it knows, and a
 *    default-allow filter would let the others through;
 * 2. the libseccomp filter, default ALLOW: NOTIFY for every entry of the
 *    policy table (with register conditions where the table says so),
 *    ERRNO for clone3/openat2 (ENOSYS: their flags are behind pointers;
 *    glibc falls back to clone/openat) and for TIOCSTI/TIOCLINUX.
 *    libseccomp kills foreign-architecture and x32 calls by default.
 * The kernel runs every filter and keeps the most restrictive answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include "core/alloc.h"
#include "sandbox/sandbox.h"

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif

/* Newest syscall number (mseal, Linux 6.10) whose semantics this policy
   was checked against; setxattrat (463) and removexattrat (466) are in
   the table and therefore exempt from the ENOSYS wall. */
#define SB_MAX_REVIEWED_NR 462

#if defined(__x86_64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "the sandbox supports x86_64 and aarch64"
#endif

static int
install_newer_wall(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SB_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* libseccomp kills */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 4, 0), /* x32 */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 463, 3, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 466, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, SB_MAX_REVIEWED_NR, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & 0xffff)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
}

/* One condition, fully initialised (libseccomp's SCMP_A* macros leave
   datum_b out for two-operand comparisons). */
static int
rule1(scmp_filter_ctx ctx,
      uint32_t action,
      int nr,
      unsigned arg,
      enum scmp_compare op,
      uint64_t a,
      uint64_t b)
{
    struct scmp_arg_cmp c = {.arg = arg, .op = op, .datum_a = a, .datum_b = b};
    return seccomp_rule_add_array(ctx, action, nr, 1, &c);
}

static int
add_rules(scmp_filter_ctx ctx, const struct sb_sysinfo *si)
{
    const uint32_t N = SCMP_ACT_NOTIFY;
    int rc = 0;
    switch (si->cls) {
    case SB_CLONE: {
        static const uint64_t ns[] = {
            CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
            CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};
        rc = rule1(ctx, N, si->nr, 0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0);
        for (size_t i = 0; rc == 0 && i < sizeof(ns) / sizeof(ns[0]); i++)
            rc = rule1(ctx, N, si->nr, 0, SCMP_CMP_MASKED_EQ, ns[i], ns[i]);
        return rc;
    }
    case SB_SOCKET:
        /* 64-bit compare: a value with high bits set is notified too, and
           the supervisor then judges the int the kernel would use. */
        return rule1(ctx, N, si->nr, 0, SCMP_CMP_NE, AF_UNIX, 0);
    case SB_SENDTO:
        return rule1(ctx, N, si->nr, 4, SCMP_CMP_NE, 0, 0);
    case SB_OPEN:
        if (si->flags < 0) /* creat */
            return seccomp_rule_add(ctx, N, si->nr, 0);
        static const uint64_t wr[] = {O_WRONLY, O_RDWR, O_CREAT, O_TRUNC};
        for (size_t i = 0; rc == 0 && i < sizeof(wr) / sizeof(wr[0]); i++)
            rc = rule1(ctx, N, si->nr, (unsigned)si->flags, SCMP_CMP_MASKED_EQ,
                       wr[i], wr[i]);
        return rc;
    case SB_EXEC:
    case SB_FORK:
    case SB_CONNECT:
    case SB_BIND:
    case SB_SENDMSG:
    case SB_SENDMMSG:
    case SB_FSMUT:
    case SB_PERM:
    case SB_PRIV:
    default:
        return seccomp_rule_add(ctx, N, si->nr, 0);
    }
}

int
sb_seccomp_install(int *notify_fd)
{
    *notify_fd = -1;
    if (install_newer_wall() != 0)
        return -errno;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return -ENOMEM;
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    size_t n;
    const struct sb_sysinfo *t = sb_sys_table(&n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = add_rules(ctx, &t[i]);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SYS_clone3, 0);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SYS_openat2, 0);
    if (rc == 0)
        rc = rule1(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                   SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI);
    if (rc == 0)
        rc = rule1(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                   SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX);
    if (rc == 0)
        rc = seccomp_load(ctx);
    if (rc == 0) {
        *notify_fd = seccomp_notify_fd(ctx);
        if (*notify_fd < 0)
            rc = *notify_fd;
    }
    seccomp_release(ctx);
    return rc < 0 ? rc : (rc > 0 ? -rc : 0);
}

int
sb_seccomp_notify_available(void)
{
    /* User notification (5.0) with CONTINUE (5.5); pidfd_getfd (5.6)
       exists too when the kernel knows it: EBADF, not ENOSYS. */
    if (seccomp_api_get() < 5)
        return 0;
    long r = syscall(SYS_pidfd_getfd, -1, 0, 0);
    return r < 0 && errno != ENOSYS;
}

struct sb_notif {
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
};

int
sb_notif_new(struct sb_notif **out)
{
    struct sb_notif *n = mg_calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    if (seccomp_notify_alloc(&n->req, &n->resp) != 0) {
        mg_free(n);
        return -ENOMEM;
    }
    *out = n;
    return 0;
}

void
sb_notif_free(struct sb_notif *n)
{
    if (n == NULL)
        return;
    seccomp_notify_free(n->req, n->resp);
    mg_free(n);
}

int
sb_notif_recv(int fd, struct sb_notif *n, struct sb_call *out)
{
    memset(n->req, 0, sizeof(*n->req));
    int rc = seccomp_notify_receive(fd, n->req);
    if (rc != 0)
        return rc < 0 ? rc : -EIO;
    out->id = n->req->id;
    out->tid = (int)n->req->pid;
    out->nr = n->req->data.nr;
    if (n->req->data.arch != SB_AUDIT_ARCH)
        out->nr = -1; /* never ours: refused by the caller */
    for (int i = 0; i < 6; i++)
        out->args[i] = n->req->data.args[i];
    return 0;
}

int
sb_notif_id_valid(int fd, uint64_t id)
{
    return seccomp_notify_id_valid(fd, id) == 0;
}

int
sb_notif_respond(
    int fd, struct sb_notif *n, uint64_t id, int cont, int err, int64_t val)
{
    memset(n->resp, 0, sizeof(*n->resp));
    n->resp->id = id;
    if (cont) {
        n->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else if (err > 0) {
        n->resp->error = -err;
    } else {
        n->resp->val = val;
    }
    int rc = seccomp_notify_respond(fd, n->resp);
    return rc < 0 ? rc : 0;
}
