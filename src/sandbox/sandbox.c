/*
 * sandbox.c - the public entry points: options, the handle, and
 * mg_sandbox_run(), which climbs down the fallback ladder once, starts the
 * child (child.c), hands it the id maps and its go, takes the listener
 * with pidfd_getfd and supervises (supervisor.c).
 */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "io/ckd.h"

static const char *const isolation_names[] = {"full", "no-namespaces",
                                              "no-landlock", "unmonitored"};

const char *
mg_sandbox_isolation_name(enum mg_sandbox_isolation i)
{
    return (unsigned)i < 4 ? isolation_names[i] : "?";
}

enum mg_status
sb_error(struct mg_sandbox *sb, enum mg_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sb->errmsg, sizeof(sb->errmsg), fmt, ap);
    va_end(ap);
    return st;
}

void
mg_sandbox_options_init(struct mg_sandbox_options *opt)
{
    memset(opt, 0, sizeof(*opt));
    opt->mode = MG_SANDBOX_ENFORCE;
    opt->timeout_ms = MG_SANDBOX_DEFAULT_TIMEOUT_MS;
    opt->max_file_bytes = MG_SANDBOX_DEFAULT_FILE_BYTES;
    opt->max_open_files = MG_SANDBOX_DEFAULT_OPEN_FILES;
}

void
mg_sandbox_free(struct mg_sandbox *sb)
{
    if (sb == NULL)
        return;
    for (size_t i = 0; i < sb->nallow; i++)
        mg_free(sb->allow[i]);
    mg_free(sb->allow);
    mg_free(sb->cwd);
    mg_free(sb);
}

const char *
mg_sandbox_errmsg(const struct mg_sandbox *sb)
{
    return sb ? sb->errmsg : "no sandbox";
}

enum mg_status
mg_sandbox_new(const struct mg_sandbox_options *opt, struct mg_sandbox **out)
{
    *out = NULL;
    struct mg_sandbox *sb = mg_calloc(1, sizeof(*sb));
    if (sb == NULL)
        return MG_E_NOMEM;
    *out = sb;
    sb->opt = *opt;
    sb->opt.allow_write = NULL;
    sb->opt.n_allow_write = 0;
    sb->opt.cwd = NULL;
    if (opt->mode != MG_SANDBOX_ENFORCE && opt->mode != MG_SANDBOX_MONITOR)
        return sb_error(sb, MG_E_INVALID, "unknown mode");
    if (sb->opt.timeout_ms == 0)
        sb->opt.timeout_ms = MG_SANDBOX_DEFAULT_TIMEOUT_MS;
    if (sb->opt.max_file_bytes == 0)
        sb->opt.max_file_bytes = MG_SANDBOX_DEFAULT_FILE_BYTES;
    if (sb->opt.max_open_files == 0)
        sb->opt.max_open_files = MG_SANDBOX_DEFAULT_OPEN_FILES;
    if (sb->opt.max_cpu_seconds == 0)
        sb->opt.max_cpu_seconds = (sb->opt.timeout_ms + 999) / 1000 + 1;
    sb->allow = mg_calloc(opt->n_allow_write ? opt->n_allow_write : 1,
                          sizeof(*sb->allow));
    if (sb->allow == NULL)
        return sb_error(sb, MG_E_NOMEM, "out of memory");
    for (size_t i = 0; i < opt->n_allow_write; i++) {
        char *real = realpath(opt->allow_write[i], NULL);
        struct stat st;
        if (real == NULL || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
            free(real); /* libc-owned: realpath */
            return sb_error(sb, MG_E_INVALID, "%s: not a folder",
                            opt->allow_write[i]);
        }
        sb->allow[sb->nallow] = mg_strdup(real);
        free(real); /* libc-owned: realpath */
        if (sb->allow[sb->nallow] == NULL)
            return sb_error(sb, MG_E_NOMEM, "out of memory");
        sb->nallow++;
    }
    if (opt->cwd != NULL && (sb->cwd = mg_strdup(opt->cwd)) == NULL)
        return sb_error(sb, MG_E_NOMEM, "out of memory");
    return MG_OK;
}

/* ---- the environment of the target ---- */

static const char *const default_env[] = {"PATH=/usr/local/bin:/usr/bin:/bin",
                                          "HOME=/nonexistent", "LANG=C.UTF-8"};

static int
env_has(char **env, size_t n, const char *entry)
{
    size_t k = strcspn(entry, "=");
    for (size_t i = 0; i < n; i++)
        if (strncmp(env[i], entry, k + 1) == 0)
            return 1;
    return 0;
}

/* The caller's entries first, then the defaults they did not set. The
   strings are borrowed (or static); only the array is allocated. */
static char **
build_env(const struct mg_sandbox *sb,
          const struct mg_sandbox_options *o,
          char *tmpdir)
{
    size_t n = 0, cap = o->n_env + 5;
    char **env = mg_calloc(cap, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < o->n_env; i++)
        if (strchr(o->env[i], '=') != NULL && !env_has(env, n, o->env[i]))
            env[n++] = (char *)o->env[i];
    for (size_t i = 0; i < sizeof(default_env) / sizeof(*default_env); i++)
        if (!env_has(env, n, default_env[i]))
            env[n++] = (char *)default_env[i];
    if (sb->nallow > 0 && !env_has(env, n, "TMPDIR=")) {
        snprintf(tmpdir, PATH_MAX + 8, "TMPDIR=%s", sb->allow[0]);
        env[n++] = tmpdir;
    }
    env[n] = NULL;
    return env;
}

/* ---- start-up ---- */

static int
ns_refused(int e)
{
    /* What a kernel or a policy without (unprivileged) user namespaces
       answers: reference B4, rung 2. */
    return e == EPERM || e == EINVAL || e == ENOSPC || e == EUSERS ||
           e == ENOSYS || e == EACCES;
}

static enum mg_status
start_fail(struct sb_run *run, const char *what, int err)
{
    kill(run->child, SIGKILL);
    waitpid(run->child, NULL, 0);
    return sb_error(run->sb, MG_E_SANDBOX, "%s: %s", what, strerror(err));
}

static enum mg_status
handshake(struct sb_run *run, int want_seccomp)
{
    struct mg_sandbox_result *res = run->res;
    struct sb_msg go = {.type = SB_MSG_GO}, m;
    if (run->ctx.namespaces &&
        sb_ns_write_maps(run->child, geteuid(), getegid()) != 0)
        return start_fail(run, "writing the id maps", errno);
    if (sb_ipc_send(run->ipc_fd, &go) != 0)
        return start_fail(run, "starting the child", EPIPE);
    enum mg_status st = sb_ipc_recv(run->ipc_fd, &m, 30000);
    if (st != MG_OK)
        return start_fail(run, "the child did not report", EPROTO);
    if (m.type == SB_MSG_ERROR) {
        kill(run->child, SIGKILL);
        waitpid(run->child, NULL, 0);
        return sb_error(run->sb, MG_E_SANDBOX, "set-up failed at %s: %s",
                        sb_stage_name(m.stage), strerror((int)m.err));
    }
    if (m.type != SB_MSG_READY || (want_seccomp && m.notify_fd == 0))
        return start_fail(run, "unexpected message from the child", EPROTO);
    res->landlock_abi = (int)m.landlock_abi;
    if (want_seccomp) {
        run->notify_fd =
            (int)syscall(SYS_pidfd_getfd, run->pidfd, (int)m.notify_fd, 0);
        if (run->notify_fd < 0)
            return start_fail(run, "taking the seccomp listener", errno);
        fcntl(run->notify_fd, F_SETFD, FD_CLOEXEC);
        res->seccomp = 1;
    }
    if (sb_ipc_send(run->ipc_fd, &go) != 0)
        return start_fail(run, "starting the child", EPIPE);
    return MG_OK;
}

enum mg_status
mg_sandbox_run(struct mg_sandbox *sb,
               const char *const *argv,
               struct mg_sandbox_result *res)
{
    memset(res, 0, sizeof(*res));
    res->end = MG_END_NOT_RUN;
    const struct mg_sandbox_options *o = &sb->opt;
    if (argv == NULL || argv[0] == NULL || argv[0][0] != '/')
        return sb_error(sb, MG_E_INVALID,
                        "the command must be an absolute path");
    if (access(argv[0], X_OK) != 0)
        return sb_error(sb, MG_E_INVALID, "%s: %s", argv[0], strerror(errno));

    if (o->allow_loopback && o->disable_namespaces)
        return sb_error(sb, MG_E_INVALID,
                        "loopback networking needs network namespaces");
    /* The ladder, detected once: what can this kernel do? */
    int notify = !o->disable_seccomp && sb_seccomp_notify_available();
    int abi = o->disable_landlock ? 0 : sb_landlock_abi();
    if (!notify && !o->allow_unsandboxed)
        return sb_error(sb, MG_E_SANDBOX,
                        "no seccomp user notification (Linux >= 5.6 "
                        "needed, or disabled): nothing could be monitored "
                        "or refused; refusing to run");

    struct sb_run run;
    memset(&run, 0, sizeof(run));
    run.sb = sb;
    run.res = res;
    run.notify_fd = run.pidfd = run.ipc_fd = -1;
    run.child = -1;
    char tmpdir[PATH_MAX + 8];
    char **envp = build_env(sb, o, tmpdir);
    if (envp == NULL)
        return sb_error(sb, MG_E_NOMEM, "out of memory");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        mg_free(envp);
        return sb_error(sb, MG_E_SANDBOX, "socketpair: %s", strerror(errno));
    }
    struct sb_child_args ca = {.ipc_fd = sv[1],
                               .allow_loopback = o->allow_loopback,
                               .landlock_abi = abi,
                               .seccomp = notify,
                               .allow = sb->allow,
                               .nallow = sb->nallow,
                               .fsize = o->max_file_bytes,
                               .nofile = o->max_open_files,
                               .cpu = o->max_cpu_seconds,
                               .cwd = sb->cwd,
                               .path = argv[0],
                               .argv = (char *const *)argv,
                               .envp = envp};
    fflush(NULL); /* nothing buffered may be written twice */
    uint64_t t0 = sb_now_ms();
    pid_t pid = -1;
    int ns = 0;
    if (!o->disable_namespaces) {
        pid = sb_ns_clone();
        ns = pid >= 0;
        if (pid < 0 && !ns_refused(errno)) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            mg_free(envp);
            return sb_error(sb, MG_E_SANDBOX, "clone: %s", strerror(e));
        }
    }
    if (pid < 0)
        pid = (pid_t)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        close(sv[0]);
        ca.namespaces = ns;
        sb_child_main(&ca);
    }
    int fork_errno = errno;
    close(sv[1]);
    mg_free(envp); /* the child has its copy */
    if (pid < 0) {
        close(sv[0]);
        return sb_error(sb, MG_E_SANDBOX, "fork: %s", strerror(fork_errno));
    }
    run.child = pid;
    run.ipc_fd = sv[0];
    res->namespaces = ns;
    res->isolation = !notify ? MG_ISOLATION_NONE
                     : !abi  ? MG_ISOLATION_NO_LANDLOCK
                     : !ns   ? MG_ISOLATION_NO_NAMESPACES
                             : MG_ISOLATION_FULL;
    run.ctx = (struct sb_ctx){.monitor = o->mode == MG_SANDBOX_MONITOR,
                              .allow_loopback = o->allow_loopback,
                              .namespaces = ns,
                              .landlock = abi > 0,
                              .first_tid = pid,
                              .allow = sb->allow,
                              .nallow = sb->nallow};
    enum mg_status st;
    if (o->allow_loopback && !ns) {
        st = start_fail(&run, "loopback networking needs network namespaces",
                        EPERM);
        goto out;
    }
    run.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (run.pidfd < 0) {
        st = start_fail(&run, "pidfd_open", errno);
        goto out;
    }
    st = handshake(&run, notify);
    if (st != MG_OK)
        goto out;
    run.deadline_ms = t0 + o->timeout_ms;
    if (o->on_start != NULL)
        o->on_start(o->user, res);
    st = sb_supervise(&run);
    res->seconds = (double)(sb_now_ms() - t0) / 1000.0;
out:
    if (run.notify_fd >= 0)
        close(run.notify_fd);
    if (run.pidfd >= 0)
        close(run.pidfd);
    if (run.ipc_fd >= 0)
        close(run.ipc_fd);
    return st;
}

/* ---- resolving the command ---- */

static int
is_script(const char *path)
{
    char head[2] = {0, 0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1; /* unreadable: not a usable candidate either */
    ssize_t k = read(fd, head, 2);
    close(fd);
    return k == 2 && head[0] == '#' && head[1] == '!';
}

static enum mg_status
take(const char *cand, int skip_scripts, char *buf, size_t buflen)
{
    struct stat st;
    if (access(cand, X_OK) != 0 || stat(cand, &st) != 0 || !S_ISREG(st.st_mode))
        return MG_E_IO;
    char *real = realpath(cand, NULL);
    if (real == NULL)
        return MG_E_IO;
    enum mg_status rc = MG_OK;
    if (skip_scripts && is_script(real))
        rc = MG_E_IO;
    else if (strlen(real) >= buflen)
        rc = MG_E_LIMIT;
    else
        memcpy(buf, real, strlen(real) + 1);
    free(real); /* libc-owned: realpath */
    return rc;
}

enum mg_status
mg_sandbox_resolve(const char *cmd, int skip_scripts, char *buf, size_t buflen)
{
    if (cmd == NULL || cmd[0] == '\0' || buflen == 0)
        return MG_E_INVALID;
    if (strchr(cmd, '/') != NULL)
        return take(cmd, skip_scripts, buf, buflen);
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    char cand[PATH_MAX];
    while (*path) {
        size_t n = strcspn(path, ":");
        size_t total;
        if (n > 0 && !ckd_add_size(&total, n, strlen(cmd) + 2) &&
            total <= sizeof(cand)) {
            memcpy(cand, path, n);
            cand[n] = '/';
            memcpy(cand + n + 1, cmd, strlen(cmd) + 1);
            enum mg_status rc = take(cand, skip_scripts, buf, buflen);
            if (rc != MG_E_IO)
                return rc;
        }
        path += n;
        if (*path == ':')
            path++;
    }
    return MG_E_IO;
}
