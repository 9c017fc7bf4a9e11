/*
 * cmd_sandbox.c - modelgate sandbox: run a command (or a torch/pickle
 * load) isolated, write one JSON object per attempt to --events (or a
 * line per attempt to stderr), and a summary to stderr.
 *
 * Exit status (docs/sandbox.md):
 *   0  the target exited 0 and nothing was refused (or, in monitor mode,
 *      nothing enforce mode would have refused);
 *   1  at least one attempt was refused (would have been, in monitor
 *      mode), or the target was killed at --timeout;
 *   2  the sandbox could not run it (bad usage, no isolation possible,
 *      set-up or exec failure), or the target failed (non-zero exit,
 *      signal) without refused attempts: a load that did not finish is
 *      not a clean one; also any run without the seccomp supervisor
 *      (--unsafe-no-sandbox), which saw nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "modelgate/mg_sandbox.h"
#include "opt.h"

struct sb_cli {
    struct opt_list allow_write, setenv;
    const char *allow_net, *events, *mode, *torch_load, *pickle_load, *python;
    uint64_t timeout;
    int no_ns, no_landlock, no_seccomp, unsafe, probe, help;
    FILE *ev;                /* --events, or NULL: text to stderr */
    const char *const *argv; /* of the target */
    const struct mg_sandbox_options *opt;
};

static const char *const torch_code =
    "import sys, torch; torch.load(sys.argv[1], weights_only=False)";
static const char *const pickle_code =
    "import sys, pickle\nwith open(sys.argv[1], 'rb') as f: pickle.load(f)";

static void
json_bool(FILE *f, const char *key, int v)
{
    fprintf(f, ",\"%s\":%s", key, v ? "true" : "false");
}

static void
json_strlist(FILE *f, const char *const *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        json_str(f, v[i]);
    }
    fputc(']', f);
}

static void
write_arg_json(FILE *f, const struct mg_sandbox_arg *a)
{
    json_str(f, a->key);
    fputc(':', f);
    switch (a->kind) {
    case MG_ARG_INT:
        fprintf(f, "%lld", (long long)a->i);
        break;
    case MG_ARG_HEX:
        fprintf(f, "\"0x%llx\"", (unsigned long long)a->u);
        break;
    case MG_ARG_STR:
        json_str(f, a->s);
        break;
    case MG_ARG_STRLIST:
        json_strlist(f, a->list, a->n);
        break;
    default:
        fputs("null", f);
        break;
    }
}

static const char *
decision_name(enum mg_sandbox_decision d)
{
    return d == MG_DECISION_DENY ? "deny" : "allow";
}

static void
on_event(void *user, const struct mg_sandbox_event *e)
{
    struct sb_cli *c = user;
    if (c->ev == NULL) {
        fprintf(stderr, "modelgate sandbox: %s %s (%s) %s",
                e->decision == MG_DECISION_DENY ? "deny"
                : e->policy == MG_DECISION_DENY ? "monitor"
                                                : "allow",
                e->rule, e->severity, e->syscall);
        for (size_t i = 0; i < e->nargs; i++) {
            const struct mg_sandbox_arg *a = &e->args[i];
            switch (a->kind) {
            case MG_ARG_INT:
                fprintf(stderr, " %s=%lld", a->key, (long long)a->i);
                break;
            case MG_ARG_HEX:
                fprintf(stderr, " %s=0x%llx", a->key, (unsigned long long)a->u);
                break;
            case MG_ARG_STR:
                fprintf(stderr, " %s=", a->key);
                json_str(stderr, a->s);
                break;
            case MG_ARG_STRLIST:
                fprintf(stderr, " %s=", a->key);
                json_strlist(stderr, a->list, a->n);
                break;
            default:
                break;
            }
        }
        fprintf(stderr, " [pid %d tid %d]\n", e->tgid, e->tid);
        return;
    }
    FILE *f = c->ev;
    fprintf(f,
            "{\"type\":\"event\",\"seq\":%llu,\"ts\":%.3f,\"tid\":%d,"
            "\"tgid\":%d,\"comm\":",
            (unsigned long long)e->seq, e->ts, e->tid, e->tgid);
    json_str(f, e->comm);
    fputs(",\"exe\":", f);
    json_str(f, e->exe);
    fputs(",\"syscall\":", f);
    json_str(f, e->syscall);
    fputs(",\"category\":", f);
    json_str(f, e->category);
    fputs(",\"rule\":", f);
    json_str(f, e->rule);
    fputs(",\"severity\":", f);
    json_str(f, e->severity);
    fputs(",\"args\":{", f);
    for (size_t i = 0; i < e->nargs; i++) {
        if (i)
            fputc(',', f);
        write_arg_json(f, &e->args[i]);
    }
    fputc('}', f);
    json_bool(f, "args_trusted", e->args_trusted);
    fprintf(f, ",\"policy\":\"%s\",\"decision\":\"%s\",\"errno\":",
            decision_name(e->policy), decision_name(e->decision));
    if (e->errno_value == 0)
        fputs("null", f);
    else if (e->errno_name != NULL)
        json_str(f, e->errno_name);
    else
        fprintf(f, "%d", e->errno_value);
    json_bool(f, "id_valid", e->id_valid);
    fputs("}\n", f);
    fflush(f);
}

static void
isolation_json(FILE *f, const struct mg_sandbox_result *r)
{
    fputs(",\"isolation\":", f);
    json_str(f, mg_sandbox_isolation_name(r->isolation));
    fputs(",\"namespaces\":", f);
    if (r->namespaces)
        fputs("[\"user\",\"net\",\"pid\",\"mount\",\"ipc\",\"uts\"]", f);
    else
        fputs("[]", f);
    fprintf(f, ",\"landlock_abi\":%d", r->landlock_abi);
    fputs(",\"seccomp\":", f);
    json_str(f, r->seccomp ? "user_notif" : "none");
}

static void
on_start(void *user, const struct mg_sandbox_result *r)
{
    struct sb_cli *c = user;
    if (c->ev == NULL)
        return;
    FILE *f = c->ev;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fprintf(f, "{\"type\":\"start\",\"schema\":%d,\"ts\":%.3f",
            MG_SANDBOX_SCHEMA_VERSION,
            (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    fputs(",\"mode\":", f);
    json_str(f, c->opt->mode == MG_SANDBOX_MONITOR ? "monitor" : "enforce");
    isolation_json(f, r);
    fputs(",\"argv\":", f);
    size_t n = 0;
    while (c->argv[n] != NULL)
        n++;
    json_strlist(f, c->argv, n);
    fputs(",\"allow_write\":", f);
    json_strlist(f, c->allow_write.v, c->allow_write.n);
    fputs(",\"allow_net\":", f);
    json_str(f, c->opt->allow_loopback ? "loopback" : "none");
    fprintf(f, ",\"timeout\":%.3f}\n", (double)c->opt->timeout_ms / 1000.0);
    fflush(f);
}

static const char *
end_text(const struct mg_sandbox_result *r, char *buf, size_t len)
{
    switch (r->end) {
    case MG_END_EXITED:
        snprintf(buf, len, "exited with status %d", r->exit_code);
        break;
    case MG_END_SIGNALED:
        snprintf(buf, len, "killed by signal %d", r->term_signal);
        break;
    case MG_END_TIMEOUT:
        snprintf(buf, len, "killed after the timeout");
        break;
    case MG_END_NOT_RUN:
    default:
        snprintf(buf, len, "not run");
        break;
    }
    return buf;
}

static int
exit_status(enum mg_status st, const struct mg_sandbox_result *r)
{
    if (st != MG_OK)
        return EXIT_ERROR;
    if (r->denied > 0 || r->end == MG_END_TIMEOUT)
        return EXIT_FOUND;
    /* An unmonitored run proves nothing: never "clean". */
    if (r->isolation != MG_ISOLATION_NONE && r->exec_errno == 0 &&
        r->end == MG_END_EXITED && r->exit_code == 0)
        return EXIT_CLEAN;
    return EXIT_ERROR;
}

static void
summary(struct sb_cli *c, const struct mg_sandbox_result *r, int rc, int ran)
{
    char buf[64];
    FILE *f = stderr;
    if (!ran)
        goto record;
    fprintf(f, "modelgate sandbox: isolation %s (",
            mg_sandbox_isolation_name(r->isolation));
    fprintf(f, "%s; ",
            r->namespaces ? "user,net,pid,mount,ipc,uts namespaces"
                          : "no namespaces");
    if (r->landlock_abi)
        fprintf(f, "Landlock ABI %d; ", r->landlock_abi);
    else
        fprintf(f, "no Landlock; ");
    fprintf(f, "%s), mode %s\n",
            r->seccomp ? "seccomp user notification" : "no seccomp",
            c->opt->mode == MG_SANDBOX_MONITOR ? "monitor" : "enforce");
    fprintf(f, "modelgate sandbox: %llu attempt%s, %llu %s",
            (unsigned long long)r->attempts, r->attempts == 1 ? "" : "s",
            (unsigned long long)r->denied,
            c->opt->mode == MG_SANDBOX_MONITOR ? "against the policy"
                                               : "denied");
    for (size_t i = 0; i < r->n_rules; i++)
        fprintf(f, "%s %s %llu/%llu", i ? "," : ":", r->by_rule[i].rule,
                (unsigned long long)r->by_rule[i].denied,
                (unsigned long long)r->by_rule[i].attempts);
    fputc('\n', f);
    if (r->exec_errno)
        fprintf(f, "modelgate sandbox: could not execute %s: %s\n", c->argv[0],
                strerror(r->exec_errno));
    fprintf(f, "modelgate sandbox: target %s after %.2f s; exit %d\n",
            end_text(r, buf, sizeof(buf)), r->seconds, rc);
record:
    if (c->ev != NULL) {
        fprintf(c->ev, "{\"type\":\"exit\",\"status\":");
        json_str(c->ev, r->end == MG_END_EXITED     ? "exited"
                        : r->end == MG_END_SIGNALED ? "signaled"
                        : r->end == MG_END_TIMEOUT  ? "timeout"
                                                    : "not_run");
        fprintf(c->ev, ",\"code\":%d,\"signal\":%d,\"exec_errno\":%d",
                r->exit_code, r->term_signal, r->exec_errno);
        fprintf(c->ev, ",\"duration\":%.3f", r->seconds);
        isolation_json(c->ev, r);
        fprintf(c->ev, ",\"attempts\":%llu,\"denied\":%llu,\"rules\":{",
                (unsigned long long)r->attempts, (unsigned long long)r->denied);
        for (size_t i = 0; i < r->n_rules; i++) {
            if (i)
                fputc(',', c->ev);
            json_str(c->ev, r->by_rule[i].rule);
            fprintf(c->ev, ":{\"attempts\":%llu,\"denied\":%llu}",
                    (unsigned long long)r->by_rule[i].attempts,
                    (unsigned long long)r->by_rule[i].denied);
        }
        fprintf(c->ev, "},\"exit\":%d}\n", rc);
        fflush(c->ev);
    }
}

static int
probe(void)
{
    struct mg_sandbox_features f;
    mg_sandbox_probe(&f);
    printf("{\"user_namespaces\":%s,\"landlock_abi\":%d,"
           "\"seccomp_notify\":%s,\"isolation\":\"%s\"}\n",
           f.user_namespaces ? "true" : "false", f.landlock_abi,
           f.seccomp_notify ? "true" : "false",
           mg_sandbox_isolation_name(f.best));
    return EXIT_CLEAN;
}

/* The events file must not be writable by the target: refuse it below
   an --allow-write folder. */
static int
events_inside_allowed(const char *events, const struct opt_list *allow)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", events);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    char *rd = realpath(dir, NULL);
    if (rd == NULL)
        return 0; /* fopen will fail and say why */
    int inside = 0;
    for (size_t i = 0; i < allow->n && !inside; i++) {
        char *ra = realpath(allow->v[i], NULL);
        if (ra == NULL)
            continue;
        size_t n = strlen(ra);
        inside = strcmp(ra, "/") == 0 ||
                 (strncmp(rd, ra, n) == 0 && (rd[n] == '\0' || rd[n] == '/'));
        free(ra);
    }
    free(rd);
    return inside;
}

/* Fill argv: the general form, or a python -c for --torch-load and
   --pickle-load. Returns 0, or 2 after a message. */
static int
target_argv(struct sb_cli *c,
            const struct opt_list *pos,
            const char **argv,
            char *exe,
            char *file)
{
    const char *load = c->torch_load ? c->torch_load : c->pickle_load;
    if ((c->torch_load && c->pickle_load) || (load && pos->n > 0) ||
        (!load && pos->n == 0)) {
        fprintf(stderr, "usage: modelgate sandbox [OPTIONS] -- CMD [ARGS...]"
                        "\n       modelgate sandbox [OPTIONS] --torch-load "
                        "FILE | --pickle-load FILE\n");
        return EXIT_ERROR;
    }
    const char *cmd = load ? (c->python ? c->python : "python3") : pos->v[0];
    /* A bare name: prefer a real binary on PATH over wrapper scripts
       (the pyenv shim execs again, which the policy refuses). */
    enum mg_status st = mg_sandbox_resolve(cmd, 1, exe, PATH_MAX);
    if (st == MG_E_IO && !load)
        st = mg_sandbox_resolve(cmd, 0, exe, PATH_MAX);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate sandbox: %s: no such executable%s\n", cmd,
                load ? " (that is not a wrapper script)" : "");
        return EXIT_ERROR;
    }
    argv[0] = exe;
    if (!load) {
        for (size_t i = 1; i < pos->n && i < 254; i++)
            argv[i] = pos->v[i];
        argv[pos->n < 254 ? pos->n : 254] = NULL;
        return 0;
    }
    if (realpath(load, file) == NULL) {
        fprintf(stderr, "modelgate sandbox: %s: %s\n", load, strerror(errno));
        return EXIT_ERROR;
    }
    argv[1] = "-I"; /* no user site, no PYTHON* variables, no cwd import */
    argv[2] = "-B"; /* no .pyc writes (they would be refused) */
    argv[3] = "-c";
    argv[4] = c->torch_load ? torch_code : pickle_code;
    argv[5] = file;
    argv[6] = NULL;
    return 0;
}

int
cmd_sandbox(int argc, char **argv)
{
    struct sb_cli c;
    memset(&c, 0, sizeof(c));
    c.mode = "enforce";
    c.timeout = MG_SANDBOX_DEFAULT_TIMEOUT_MS / 1000;
    const struct opt table[] = {
        {"allow-write", 0, OPT_MULTI, "DIR",
         "the target may create and change files below DIR; repeatable",
         &c.allow_write, NULL},
        {"allow-net", 0, OPT_STRING, "loopback",
         "give the target a loopback interface (nothing else exists)",
         &c.allow_net, NULL},
        {"timeout", 0, OPT_U64, "S",
         "kill the target after S seconds of wall-clock time (default 120)",
         &c.timeout, NULL},
        {"events", 0, OPT_STRING, "FILE",
         "write one JSON object per attempt to FILE (JSON Lines)", &c.events,
         NULL},
        {"mode", 0, OPT_STRING, "MODE",
         "enforce (default: deny) or monitor (allow and record)", &c.mode,
         NULL},
        {"torch-load", 0, OPT_STRING, "FILE",
         "run python3 -c 'torch.load(FILE, weights_only=False)'", &c.torch_load,
         NULL},
        {"pickle-load", 0, OPT_STRING, "FILE",
         "run python3 -c 'pickle.load(open(FILE, \"rb\"))'", &c.pickle_load,
         NULL},
        {"python", 0, OPT_STRING, "PATH",
         "interpreter for --torch-load/--pickle-load (default: the first "
         "real python3 on PATH)",
         &c.python, NULL},
        {"setenv", 0, OPT_MULTI, "NAME=VALUE",
         "add to the target's (otherwise minimal) environment; repeatable",
         &c.setenv, NULL},
        {"no-namespaces", 0, OPT_FLAG, NULL,
         "do not use namespaces (the fallback rung without them)", &c.no_ns,
         NULL},
        {"no-landlock", 0, OPT_FLAG, NULL,
         "do not use Landlock (the fallback rung without it)", &c.no_landlock,
         NULL},
        {"no-seccomp", 0, OPT_FLAG, NULL,
         "do not use the seccomp supervisor (refused without "
         "--unsafe-no-sandbox)",
         &c.no_seccomp, NULL},
        {"unsafe-no-sandbox", 0, OPT_FLAG, NULL,
         "run even when the kernel allows no isolation at all", &c.unsafe,
         NULL},
        {"probe", 0, OPT_FLAG, NULL,
         "print what this kernel offers as JSON and exit", &c.probe, NULL},
        {"help", 'h', OPT_FLAG, NULL, "show this help", &c.help, NULL},
    };
    const size_t ntable = sizeof(table) / sizeof(table[0]);
    struct opt_list pos = {0};
    struct mg_sandbox *sb = NULL;
    struct mg_sandbox_result res;
    memset(&res, 0, sizeof(res));
    const char *targv[256];
    char exe[PATH_MAX], file[PATH_MAX];
    int rc = opt_parse(table, ntable, argc, argv, &pos, "sandbox");
    if (rc != 0)
        goto out;
    if (c.help) {
        printf("usage: modelgate sandbox [OPTIONS] -- CMD [ARGS...]\n"
               "       modelgate sandbox [OPTIONS] --torch-load FILE\n"
               "       modelgate sandbox [OPTIONS] --pickle-load FILE\n\n"
               "Run CMD isolated (namespaces, Landlock, seccomp); report "
               "every attempt to spawn,\nexec, reach the network or change "
               "files. Exit status: 0 clean run, 1 attempts\ndenied (or "
               "timeout), 2 could not run or the target failed.\n\n"
               "options:\n");
        opt_help(stdout, table, ntable);
        goto out;
    }
    if (c.probe) {
        rc = probe();
        goto out;
    }
    struct mg_sandbox_options opt;
    mg_sandbox_options_init(&opt);
    if (strcmp(c.mode, "monitor") == 0)
        opt.mode = MG_SANDBOX_MONITOR;
    else if (strcmp(c.mode, "enforce") != 0) {
        fprintf(stderr, "modelgate sandbox: --mode is enforce or monitor\n");
        rc = EXIT_ERROR;
        goto out;
    }
    if (c.allow_net != NULL && strcmp(c.allow_net, "loopback") != 0) {
        fprintf(stderr, "modelgate sandbox: --allow-net accepts only "
                        "'loopback'\n");
        rc = EXIT_ERROR;
        goto out;
    }
    if (c.timeout == 0 || c.timeout > 86400 * 7) {
        fprintf(stderr, "modelgate sandbox: --timeout is 1 to 604800 s\n");
        rc = EXIT_ERROR;
        goto out;
    }
    rc = target_argv(&c, &pos, targv, exe, file);
    if (rc != 0)
        goto out;
    c.argv = targv;
    c.opt = &opt;
    opt.allow_write = c.allow_write.v;
    opt.n_allow_write = c.allow_write.n;
    opt.allow_loopback = c.allow_net != NULL;
    opt.timeout_ms = c.timeout * 1000;
    opt.env = c.setenv.v;
    opt.n_env = c.setenv.n;
    opt.disable_namespaces = c.no_ns;
    opt.disable_landlock = c.no_landlock;
    opt.disable_seccomp = c.no_seccomp;
    opt.allow_unsandboxed = c.unsafe;
    opt.on_event = on_event;
    opt.on_start = on_start;
    opt.user = &c;
    enum mg_status st = mg_sandbox_new(&opt, &sb);
    if (st != MG_OK) {
        fprintf(stderr, "modelgate sandbox: %s\n", mg_sandbox_errmsg(sb));
        rc = EXIT_ERROR;
        goto out;
    }
    if (c.events != NULL) {
        if (events_inside_allowed(c.events, &c.allow_write)) {
            fprintf(stderr,
                    "modelgate sandbox: --events %s is below an "
                    "--allow-write folder: the target could forge it\n",
                    c.events);
            rc = EXIT_ERROR;
            goto out;
        }
        int fd = open(c.events, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0 || (c.ev = fdopen(fd, "w")) == NULL) {
            fprintf(stderr, "modelgate sandbox: %s: %s\n", c.events,
                    strerror(errno));
            if (fd >= 0)
                close(fd);
            rc = EXIT_ERROR;
            goto out;
        }
    }
    st = mg_sandbox_run(sb, targv, &res);
    rc = exit_status(st, &res);
    if (st != MG_OK)
        fprintf(stderr, "modelgate sandbox: %s\n", mg_sandbox_errmsg(sb));
    summary(&c, &res, rc, st == MG_OK);
out:
    if (c.ev != NULL)
        fclose(c.ev);
    mg_sandbox_free(sb);
    opt_list_free(&pos);
    opt_list_free(&c.allow_write);
    opt_list_free(&c.setenv);
    return rc;
}
