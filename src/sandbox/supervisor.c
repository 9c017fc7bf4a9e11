/*
 * supervisor.c - answers the target's notifications until its tree is
 * gone or the wall-clock limit: receive, read the pointer arguments from
 * /proc/<tid>/mem (bounded, hostile), re-check that the notification is
 * still valid, decide (policy.c), answer, then report the event.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "sandbox/sandbox.h"

uint64_t
sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *
sb_errno_name(int err)
{
    switch (err) {
    case EPERM:
        return "EPERM";
    case EACCES:
        return "EACCES";
    case EAGAIN:
        return "EAGAIN";
    case ENOSYS:
        return "ENOSYS";
    case EFAULT:
        return "EFAULT";
    case ENOENT:
        return "ENOENT";
    case EBADF:
        return "EBADF";
    case EINVAL:
        return "EINVAL";
    case ECONNREFUSED:
        return "ECONNREFUSED";
    case EINPROGRESS:
        return "EINPROGRESS";
    case ETIMEDOUT:
        return "ETIMEDOUT";
    case ENETUNREACH:
        return "ENETUNREACH";
    case EAFNOSUPPORT:
        return "EAFNOSUPPORT";
    default:
        return NULL;
    }
}

/* Per-notification scratch, allocated once per run. */
struct sb_scratch {
    struct sb_decoded d;
    uint8_t addr[SB_SOCKADDR_MAX];
    size_t addrlen;
    char base[SB_PATH_MAX];
    char tmp[SB_PATH_MAX];
};

/* Absolute, normalised form of a path argument. For the decision only
   the parent directory's symlinks are resolved (in the supervisor's view,
   which is the target's but for /proc); Landlock resolves for real. */
static int
resolve(int tid,
        int dirfd_arg,
        uint64_t dirfd_reg,
        const char *path,
        char *out,
        struct sb_scratch *s)
{
    const char *base = NULL;
    if (path[0] != '/') {
        int dirfd = (int)dirfd_reg;
        int rc;
        if (dirfd_arg < 0 || dirfd == AT_FDCWD) {
            rc = sb_proc_readlink(tid, "cwd", s->base, sizeof(s->base));
        } else {
            char what[32];
            snprintf(what, sizeof(what), "fd/%d", dirfd);
            rc = sb_proc_readlink(tid, what, s->base, sizeof(s->base));
        }
        if (rc != 0 || s->base[0] != '/')
            return -1;
        base = s->base;
    }
    if (sb_path_normalize(base, path, out, SB_PATH_MAX) != 0)
        return -1;
    if (strncmp(out, "/proc/", 6) == 0 || strcmp(out, "/") == 0)
        return 0;
    char *slash = strrchr(out, '/');
    size_t dlen = (size_t)(slash - out);
    memcpy(s->tmp, out, dlen);
    s->tmp[dlen ? dlen : 1] = '\0';
    if (dlen == 0)
        s->tmp[0] = '/';
    char *real = realpath(s->tmp, NULL);
    if (real == NULL)
        return 0; /* parent does not exist: the call will fail anyway */
    size_t rl = strlen(real), bl = strlen(slash);
    if (rl + bl + 1 <= SB_PATH_MAX) {
        memmove(out + (strcmp(real, "/") == 0 ? 0 : rl), slash, bl + 1);
        if (strcmp(real, "/") != 0)
            memcpy(out, real, rl);
    }
    free(real); /* libc-owned: realpath */
    return 0;
}

/* Read the path argument idx (and its dirfd) into raw/rpath. */
static void
read_path(int memfd,
          const struct sb_call *c,
          int path_arg,
          int dirfd_arg,
          char *raw,
          char *rpath,
          int *have,
          int *have_r,
          struct sb_scratch *s)
{
    int trunc = 0;
    if (path_arg < 0)
        return;
    if (sb_mem_read_str(memfd, c->args[path_arg], raw, SB_PATH_MAX, &trunc) <
        0) {
        s->d.read_failed = 1;
        return;
    }
    *have = 1;
    if (trunc)
        return;           /* longer than PATH_MAX: the kernel refuses it too */
    if (raw[0] == '\0') { /* AT_EMPTY_PATH: the dirfd itself */
        char what[32];
        if (dirfd_arg < 0)
            return;
        snprintf(what, sizeof(what), "fd/%d", (int)c->args[dirfd_arg]);
        *have_r = sb_proc_readlink(c->tid, what, rpath, SB_PATH_MAX) == 0 &&
                  rpath[0] == '/';
        return;
    }
    *have_r =
        resolve(c->tid, dirfd_arg, dirfd_arg >= 0 ? c->args[dirfd_arg] : 0, raw,
                rpath, s) == 0;
}

static void
read_addr(int memfd, uint64_t ptr, uint64_t len, struct sb_scratch *s)
{
    if (len > SB_SOCKADDR_MAX)
        len = SB_SOCKADDR_MAX;
    if (ptr == 0 || len < 2 || sb_mem_read(memfd, ptr, s->addr, len) != 0) {
        s->d.read_failed = 1;
        return;
    }
    s->addrlen = (size_t)len;
    if (sb_decode_sockaddr(s->addr, s->addrlen, &s->d.addr) != MG_OK) {
        s->d.read_failed = 1;
        return;
    }
    s->d.have_addr = 1;
}

static void
read_msghdrs(int memfd, const struct sb_call *c, int many, struct sb_scratch *s)
{
    /* struct mmsghdr is a msghdr (56 bytes on LP64) and an unsigned,
       padded to 64. */
    uint8_t buf[64 * SB_MMSG_MAX];
    uint64_t n = many ? c->args[2] : 1;
    if (n > SB_MMSG_MAX) {
        s->d.read_failed = 1; /* cannot check them all: refuse */
        return;
    }
    size_t stride = many ? 64 : 56;
    if (n == 0)
        return;
    if (sb_mem_read(memfd, c->args[1], buf, (size_t)n * stride) != 0) {
        s->d.read_failed = 1;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t name;
        uint32_t namelen;
        if (sb_decode_msghdr(buf + i * stride, stride, &name, &namelen) !=
            MG_OK) {
            s->d.read_failed = 1;
            return;
        }
        if (name != 0 && namelen != 0) {
            read_addr(memfd, name, namelen, s);
            return; /* the first address decides; any would be refused */
        }
    }
}

static void
read_argv(int memfd, uint64_t ptr, struct sb_scratch *s)
{
    uint8_t raw[(SB_ARGV_MAX + 1) * 8];
    uint64_t ptrs[SB_ARGV_MAX];
    size_t n = 0, used = 0;
    int term = 0;
    if (ptr == 0)
        return;
    /* Read what is readable: the array may end before an unmapped
       page, so shrink until a read works. */
    size_t want = sizeof(raw);
    while (want >= 8 && sb_mem_read(memfd, ptr, raw, want) != 0)
        want = want / 2 & ~(size_t)7;
    if (want < 8 ||
        sb_decode_ptrs(raw, want, ptrs, SB_ARGV_MAX, &n, &term) != MG_OK)
        return;
    s->d.argv_truncated = !term;
    for (size_t i = 0; i < n; i++) {
        if (used + 2 > sizeof(s->d.argbuf)) {
            s->d.argv_truncated = 1;
            break;
        }
        size_t cap = sizeof(s->d.argbuf) - used;
        if (cap > SB_ARG_MAX)
            cap = SB_ARG_MAX;
        int trunc;
        long len =
            sb_mem_read_str(memfd, ptrs[i], s->d.argbuf + used, cap, &trunc);
        if (len < 0)
            break;
        s->d.argv[s->d.argc++] = s->d.argbuf + used;
        used += (size_t)len + 1;
        if (trunc)
            s->d.argv_truncated = 1;
    }
}

static void
decode_call(const struct sb_sysinfo *si,
            const struct sb_call *c,
            int memfd,
            struct sb_scratch *s)
{
    struct sb_decoded *d = &s->d;
    switch (si->cls) {
    case SB_EXEC:
        read_path(memfd, c, si->path, si->dirfd, d->path, d->rpath,
                  &d->have_path, &d->have_rpath, s);
        read_argv(memfd, c->args[si->path + 1], s);
        break;
    case SB_OPEN:
    case SB_FSMUT:
    case SB_PERM:
        read_path(memfd, c, si->path, si->dirfd, d->path, d->rpath,
                  &d->have_path, &d->have_rpath, s);
        read_path(memfd, c, si->path2, si->dirfd2, d->path2, d->rpath2,
                  &d->have_path2, &d->have_rpath2, s);
        break;
    case SB_CONNECT:
    case SB_BIND:
        read_addr(memfd, c->args[1], c->args[2], s);
        break;
    case SB_SENDTO:
        read_addr(memfd, c->args[4], c->args[5], s);
        break;
    case SB_SENDMSG:
        read_msghdrs(memfd, c, 0, s);
        break;
    case SB_SENDMMSG:
        read_msghdrs(memfd, c, 1, s);
        break;
    case SB_FORK:
    case SB_CLONE:
    case SB_SOCKET:
    case SB_PRIV:
    default:
        break;
    }
}

static int
needs_memory(enum sb_class c)
{
    return c == SB_EXEC || c == SB_OPEN || c == SB_FSMUT || c == SB_PERM ||
           c == SB_CONNECT || c == SB_BIND || c == SB_SENDTO ||
           c == SB_SENDMSG || c == SB_SENDMMSG;
}

struct evbuild {
    struct mg_sandbox_arg a[MG_SANDBOX_MAX_ARGS];
    size_t n;
};

static void
arg_int(struct evbuild *b, const char *k, int64_t v)
{
    if (b->n < MG_SANDBOX_MAX_ARGS)
        b->a[b->n++] =
            (struct mg_sandbox_arg){.key = k, .kind = MG_ARG_INT, .i = v};
}

static void
arg_hex(struct evbuild *b, const char *k, uint64_t v)
{
    if (b->n < MG_SANDBOX_MAX_ARGS)
        b->a[b->n++] =
            (struct mg_sandbox_arg){.key = k, .kind = MG_ARG_HEX, .u = v};
}

static void
arg_str(struct evbuild *b, const char *k, const char *v)
{
    if (b->n < MG_SANDBOX_MAX_ARGS)
        b->a[b->n++] =
            (struct mg_sandbox_arg){.key = k, .kind = MG_ARG_STR, .s = v};
}

static void
build_args(const struct sb_sysinfo *si,
           const struct sb_call *c,
           const struct sb_decoded *d,
           struct evbuild *b)
{
    if (d->have_path)
        arg_str(b, "path", d->path);
    if (d->have_rpath && strcmp(d->rpath, d->path) != 0)
        arg_str(b, "resolved", d->rpath);
    if (d->have_path2)
        arg_str(b, "path2", d->path2);
    if (d->have_rpath2 && strcmp(d->rpath2, d->path2) != 0)
        arg_str(b, "resolved2", d->rpath2);
    switch (si->cls) {
    case SB_EXEC:
        if (d->argc > 0 && b->n < MG_SANDBOX_MAX_ARGS)
            b->a[b->n++] = (struct mg_sandbox_arg){.key = "argv",
                                                   .kind = MG_ARG_STRLIST,
                                                   .list = d->argv,
                                                   .n = d->argc};
        if (d->argv_truncated)
            arg_int(b, "argv_truncated", 1);
        if (si->dirfd >= 0)
            arg_hex(b, "flags", c->args[4]);
        break;
    case SB_CLONE:
        arg_hex(b, "flags", c->args[0]);
        break;
    case SB_SOCKET:
        arg_str(b, "family", sb_family_name((int)c->args[0]));
        arg_int(b, "domain", (int)c->args[0]);
        arg_int(b, "type", (int)c->args[1]);
        break;
    case SB_CONNECT:
    case SB_BIND:
    case SB_SENDTO:
    case SB_SENDMSG:
    case SB_SENDMMSG:
        arg_int(b, "fd", (int)c->args[0]);
        if (d->have_addr) {
            arg_str(b, "family", sb_family_name(d->addr.family));
            arg_str(b, "addr", d->addr.text);
            if (d->addr.port >= 0)
                arg_int(b, "port", d->addr.port);
        }
        break;
    case SB_OPEN:
        if (si->flags >= 0)
            arg_hex(b, "flags", c->args[si->flags]);
        break;
    case SB_PERM:
        if (si->path < 0)
            arg_int(b, "fd", (int)c->args[0]);
        break;
    case SB_PRIV:
        arg_hex(b, "arg0", c->args[0]);
        break;
    case SB_FORK:
    case SB_FSMUT:
    default:
        break;
    }
}

static void
count(struct mg_sandbox_result *res, const char *rule, int denied)
{
    res->attempts++;
    if (denied)
        res->denied++;
    size_t i;
    for (i = 0; i < res->n_rules; i++)
        if (strcmp(res->by_rule[i].rule, rule) == 0)
            break;
    if (i == res->n_rules) {
        if (i == MG_SANDBOX_MAX_RULES)
            i--; /* cannot happen: fewer rules exist; keep the last */
        else
            res->n_rules++;
        res->by_rule[i].rule = rule;
    }
    res->by_rule[i].attempts++;
    if (denied)
        res->by_rule[i].denied++;
}

static void
emit(struct sb_run *run,
     const struct sb_sysinfo *si,
     const struct sb_call *c,
     const struct sb_verdict *v,
     int decision_deny,
     int err,
     int id_valid,
     const struct sb_decoded *d)
{
    count(run->res, v->rule, v->policy_deny);
    const struct mg_sandbox_options *o = &run->sb->opt;
    if (o->on_event == NULL)
        return;
    char comm[32], exe[SB_PATH_MAX];
    sb_proc_comm(c->tid, comm, sizeof(comm));
    sb_proc_readlink(c->tid, "exe", exe, sizeof(exe));
    struct evbuild b = {.n = 0};
    build_args(si, c, d, &b);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct mg_sandbox_event ev = {
        .ts = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
        .seq = ++run->seq,
        .tid = c->tid,
        .tgid = sb_proc_tgid(c->tid),
        .comm = comm,
        .exe = exe,
        .syscall = si->name,
        .category = v->category,
        .rule = v->rule,
        .severity = v->severity,
        .policy = v->policy_deny ? MG_DECISION_DENY : MG_DECISION_ALLOW,
        .decision = decision_deny ? MG_DECISION_DENY : MG_DECISION_ALLOW,
        .errno_value = decision_deny ? err : 0,
        .errno_name = decision_deny ? sb_errno_name(err) : NULL,
        .args_trusted = !needs_memory(si->cls),
        .id_valid = id_valid,
        .args = b.a,
        .nargs = b.n};
    o->on_event(o->user, &ev);
}

static void
handle_one(struct sb_run *run, struct sb_notif *nb, struct sb_scratch *s)
{
    struct sb_call c;
    if (sb_notif_recv(run->notify_fd, nb, &c) != 0)
        return; /* the thread is gone (ENOENT), or EINTR: poll again */
    const struct sb_sysinfo *si = sb_sys_lookup(c.nr);
    if (si == NULL) { /* not ours (foreign arch): refuse */
        sb_notif_respond(run->notify_fd, nb, c.id, 0, ENOSYS, 0);
        return;
    }
    memset(&s->d, 0, offsetof(struct sb_decoded, path));
    s->d.path[0] = s->d.rpath[0] = s->d.path2[0] = s->d.rpath2[0] = '\0';
    s->d.argc = 0;
    s->d.argv_truncated = 0;
    s->d.read_failed = 0;
    s->d.have_addr = 0;
    s->addrlen = 0;
    if (needs_memory(si->cls)) {
        int memfd = sb_mem_open(c.tid);
        /* Valid after the open: memfd is that thread's memory. */
        if (memfd >= 0 && sb_notif_id_valid(run->notify_fd, c.id))
            decode_call(si, &c, memfd, s);
        else
            s->d.read_failed = 1;
        if (memfd >= 0)
            close(memfd);
    }
    /* And after the reads: the tid may have died and been reused. */
    if (!sb_notif_id_valid(run->notify_fd, c.id))
        return;
    struct sb_verdict v;
    sb_decide(&run->ctx, si, &c, &s->d, &v);
    if (si->cls == SB_EXEC && c.tid == run->ctx.first_tid)
        run->ctx.exec_done = 1;
    int deny = 0, err = 0, rc;
    if (v.action == SB_EMULATE) {
        int tgid = sb_proc_tgid(c.tid);
        err = tgid > 0 ? sb_emulate_connect(run->notify_fd, c.id, c.tid, tgid,
                                            (int)c.args[0], s->addr, s->addrlen)
                       : EACCES;
        rc = sb_notif_respond(run->notify_fd, nb, c.id, 0, err, 0);
    } else if (v.action == SB_FAIL) {
        deny = 1;
        err = v.err;
        rc = sb_notif_respond(run->notify_fd, nb, c.id, 0, err, 0);
    } else {
        rc = sb_notif_respond(run->notify_fd, nb, c.id, 1, 0, 0);
    }
    if (!v.silent)
        emit(run, si, &c, &v, deny, err, rc == 0, &s->d);
}

static void
kill_tree(struct sb_run *run)
{
    /* In a pid namespace, killing its init kills everything in it; the
       process group covers the no-namespace rungs. */
    kill(run->child, SIGKILL);
    kill(-run->child, SIGKILL);
}

static void
read_ipc(struct sb_run *run)
{
    struct sb_msg m;
    /* After execve the socket is closed: EOF. Before, only an ERROR
       (execve failed) is expected; anything else is ignored. */
    if (sb_ipc_recv(run->ipc_fd, &m, 100) != MG_OK) {
        close(run->ipc_fd);
        run->ipc_fd = -1;
        return;
    }
    if (m.type == SB_MSG_ERROR && m.stage == SB_STAGE_EXEC)
        run->res->exec_errno = (int)m.err;
}

static void
reap(struct sb_run *run, int *done)
{
    int st;
    pid_t r = waitpid(run->child, &st, WNOHANG);
    if (r != run->child)
        return;
    *done = 1;
    if (run->res->end == MG_END_TIMEOUT)
        return;
    if (WIFEXITED(st)) {
        run->res->end = MG_END_EXITED;
        run->res->exit_code = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        run->res->end = MG_END_SIGNALED;
        run->res->term_signal = WTERMSIG(st);
    }
}

enum mg_status
sb_supervise(struct sb_run *run)
{
    struct sb_notif *nb = NULL;
    struct sb_scratch *s = mg_malloc(sizeof(*s));
    if (s == NULL || (run->notify_fd >= 0 && sb_notif_new(&nb) != 0)) {
        mg_free(s);
        kill_tree(run);
        waitpid(run->child, NULL, 0);
        return sb_error(run->sb, MG_E_NOMEM, "out of memory");
    }
    int done = 0, hup = run->notify_fd < 0;
    uint64_t drain_until = 0;
    for (;;) {
        uint64_t now = sb_now_ms();
        if (!done && now >= run->deadline_ms &&
            run->res->end != MG_END_TIMEOUT) {
            run->res->end = MG_END_TIMEOUT;
            kill_tree(run);
        }
        if (done && (hup || now >= drain_until))
            break;
        uint64_t until = done ? drain_until : run->deadline_ms;
        if (run->res->end == MG_END_TIMEOUT && !done)
            until = now + 1000; /* SIGKILL sent: wait for the reap */
        struct pollfd p[3] = {
            {.fd = hup ? -1 : run->notify_fd, .events = POLLIN},
            {.fd = done ? -1 : run->pidfd, .events = POLLIN},
            {.fd = run->ipc_fd, .events = POLLIN}};
        int wait_ms = until > now ? (int)(until - now) : 0;
        int pr = poll(p, 3, wait_ms);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (p[0].revents & POLLIN)
            handle_one(run, nb, s);
        else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
            hup = 1; /* every task using the filter is gone */
        if (p[2].revents)
            read_ipc(run);
        if (p[1].revents & POLLIN) {
            /* The leader is a zombie until reaped, so its process group
               id cannot have been reused: kill the rest of the group. */
            kill(-run->child, SIGKILL);
            reap(run, &done);
            if (done)
                drain_until = sb_now_ms() + SB_DRAIN_MS;
        }
    }
    if (!done) {
        kill_tree(run);
        reap(run, &done);
        if (!done) {
            int st;
            waitpid(run->child, &st, 0);
        }
    }
    sb_notif_free(nb);
    mg_free(s);
    return MG_OK;
}
