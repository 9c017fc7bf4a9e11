/*
 * mg_sandbox.h - run a real model load isolated, and report every attempt
 * it makes to spawn, exec, reach the network or change files.
 *
 * Pattern of use:
 *
 *     struct mg_sandbox_options opt;
 *     mg_sandbox_options_init(&opt);          // enforce, 120 s, no writes
 *     opt.allow_write = dirs; opt.n_allow_write = 1;
 *     opt.on_event = my_cb; opt.user = me;    // one call per attempt
 *     struct mg_sandbox *sb = NULL;
 *     if (mg_sandbox_new(&opt, &sb) != MG_OK) ... mg_sandbox_errmsg(sb)
 *     struct mg_sandbox_result res;
 *     enum mg_status st = mg_sandbox_run(sb, argv, &res);
 *     // st says whether the target could be run; what it tried is in the
 *     // events and in res.denied, res.attempts, res.by_rule.
 *     mg_sandbox_free(sb);
 *
 * Linux only. The target runs in new user, network, pid, mount, IPC and
 * UTS namespaces when the kernel allows, under Landlock and one seccomp
 * filter whose user notifications are answered by the calling process
 * (the supervisor). What the kernel offers is detected once per run and
 * reported (enum mg_sandbox_isolation); docs/sandbox.md has the ladder.
 * mg_sandbox_run() forks: call it from a single-threaded process, or at
 * least one that does not hold locks another thread needs. The library
 * never prints; a sandbox handle is used by one thread at a time.
 */
#ifndef MODELGATE_MG_SANDBOX_H
#define MODELGATE_MG_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "modelgate/modelgate.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of the event records (docs/sandbox.md). */
#define MG_SANDBOX_SCHEMA_VERSION 1

/** What to do with an attempt the policy refuses. */
enum mg_sandbox_mode {
    MG_SANDBOX_ENFORCE = 0, /**< deny it (the syscall fails) */
    MG_SANDBOX_MONITOR = 1  /**< let it run and record it; namespaces,
                                 Landlock and the privileged-syscall
                                 denials still hold */
};

/** The rung of the fallback ladder a run used, strongest first. */
enum mg_sandbox_isolation {
    /** user+net+pid+mount+ipc+uts namespaces, Landlock, seccomp notify */
    MG_ISOLATION_FULL = 0,
    /** no user namespace: plain fork, Landlock, seccomp notify */
    MG_ISOLATION_NO_NAMESPACES = 1,
    /** seccomp notify (and namespaces when possible), no Landlock: every
        write open is denied, --allow-write cannot be honoured */
    MG_ISOLATION_NO_LANDLOCK = 2,
    /** no seccomp user notification: nothing is recorded and nothing
        refused but what namespaces and Landlock (when available) stop;
        only with allow_unsandboxed */
    MG_ISOLATION_NONE = 3
};

/** Static name of an isolation rung: "full", "no-namespaces",
    "no-landlock", "unmonitored". */
MG_API const char *mg_sandbox_isolation_name(enum mg_sandbox_isolation i);

/** What the running kernel offers (mg_sandbox_probe()). */
struct mg_sandbox_features {
    int user_namespaces;            /**< clone(CLONE_NEWUSER|...) works */
    int landlock_abi;               /**< 0 when Landlock is unavailable */
    int seccomp_notify;             /**< user notification with CONTINUE and
                                         pidfd_getfd (Linux >= 5.6) */
    enum mg_sandbox_isolation best; /**< best rung these allow */
};

/**
 * Detect what the kernel offers, by trying (a short-lived child for the
 * namespaces). Never fails: unavailable features are 0.
 */
MG_API void mg_sandbox_probe(struct mg_sandbox_features *out);

/** Decision taken for one attempt. */
enum mg_sandbox_decision {
    MG_DECISION_ALLOW = 0, /**< the syscall ran (or was emulated) */
    MG_DECISION_DENY = 1   /**< the syscall failed with errno_value */
};

/** Kind of a decoded argument. */
enum mg_sandbox_arg_kind {
    MG_ARG_INT = 0, /**< .i */
    MG_ARG_HEX,     /**< .u, shown in hexadecimal (flags) */
    MG_ARG_STR,     /**< .s (bytes from the target, may be any bytes) */
    MG_ARG_STRLIST  /**< .list[0 .. .n) */
};

/** One decoded argument of an attempt, e.g. {"path", STR, "/etc/x"}. */
struct mg_sandbox_arg {
    const char *key;
    enum mg_sandbox_arg_kind kind;
    int64_t i;
    uint64_t u;
    const char *s;
    const char *const *list;
    size_t n;
};

#define MG_SANDBOX_MAX_ARGS 8

/**
 * One attempt. Every pointer is owned by the library and valid only
 * during the callback. Strings read from the target's memory are hostile
 * and may have changed since (args_trusted is 0 for them): deny decisions
 * never depend on them being exact, allow decisions never rely on them
 * alone (docs/sandbox.md, "What it proves").
 */
struct mg_sandbox_event {
    double ts;            /**< seconds since the epoch */
    uint64_t seq;         /**< 1, 2, ... per run */
    int tid;              /**< thread id (supervisor's pid namespace) */
    int tgid;             /**< its process id, -1 when unknown */
    const char *comm;     /**< thread name (set by the target) */
    const char *exe;      /**< executable, "" when unknown */
    const char *syscall;  /**< "connect", "execve", ... */
    const char *category; /**< "process", "network", "filesystem", ... */
    const char *rule;     /**< "process.spawn", "net.outbound", ... */
    const char *severity; /**< "info", "medium", "high" */
    enum mg_sandbox_decision policy;   /**< what enforce mode does */
    enum mg_sandbox_decision decision; /**< what this run did */
    int errno_value;                   /**< when denied, else 0 */
    const char *errno_name;            /**< "EACCES"..., NULL if none */
    int args_trusted;                  /**< 0: args read from memory */
    int id_valid; /**< the thread was still waiting when answered */
    const struct mg_sandbox_arg *args;
    size_t nargs;
};

typedef void (*mg_sandbox_event_cb)(void *user,
                                    const struct mg_sandbox_event *ev);
struct mg_sandbox_result;
/** Called once the isolation is in place, before the target runs: the
    isolation fields of *res are set (the rest is not yet). */
typedef void (*mg_sandbox_start_cb)(void *user,
                                    const struct mg_sandbox_result *res);

/** Options of a sandbox. Initialise with mg_sandbox_options_init(). */
struct mg_sandbox_options {
    enum mg_sandbox_mode mode;
    /** Folders the target may create and change files below. Borrowed
        until mg_sandbox_new() returns (they are resolved and copied). */
    const char *const *allow_write;
    size_t n_allow_write;
    /** Give the target a loopback interface (up) and allow sockets and
        connections to loopback addresses; needs network namespaces. */
    int allow_loopback;
    /** Wall-clock limit in milliseconds; the target is killed after it.
        0 means MG_SANDBOX_DEFAULT_TIMEOUT_MS. */
    uint64_t timeout_ms;
    /** rlimits of the target (0: default). */
    uint64_t max_file_bytes;  /**< RLIMIT_FSIZE */
    uint64_t max_open_files;  /**< RLIMIT_NOFILE */
    uint64_t max_cpu_seconds; /**< RLIMIT_CPU; default: the timeout */
    /** Extra "NAME=VALUE" entries of the target's environment, which
        otherwise holds only PATH, HOME, LANG and TMPDIR. Borrowed until
        mg_sandbox_run() returns. */
    const char *const *env;
    size_t n_env;
    /** Working directory of the target (NULL: the caller's). */
    const char *cwd;
    /** Skip a rung on purpose (tests, or a kernel known to misbehave). */
    int disable_namespaces;
    int disable_landlock;
    int disable_seccomp; /**< forces MG_ISOLATION_NONE (tests) */
    /** Run even when no isolation is possible (MG_ISOLATION_NONE). */
    int allow_unsandboxed;
    mg_sandbox_event_cb on_event; /**< may be NULL */
    mg_sandbox_start_cb on_start; /**< may be NULL */
    void *user;
};

#define MG_SANDBOX_DEFAULT_TIMEOUT_MS 120000u
#define MG_SANDBOX_DEFAULT_FILE_BYTES (1ULL << 30)
#define MG_SANDBOX_DEFAULT_OPEN_FILES 4096u

MG_API void mg_sandbox_options_init(struct mg_sandbox_options *opt);

/** How the target ended. */
enum mg_sandbox_end {
    MG_END_EXITED = 0,   /**< exit_code is valid */
    MG_END_SIGNALED = 1, /**< term_signal is valid */
    MG_END_TIMEOUT = 2,  /**< killed after the wall-clock limit */
    MG_END_NOT_RUN = 3   /**< the sandbox could not start it */
};

#define MG_SANDBOX_MAX_RULES 32

/** Outcome of a run. Strings are static. */
struct mg_sandbox_result {
    enum mg_sandbox_isolation isolation;
    int namespaces;   /**< 1 when the namespaces were created */
    int landlock_abi; /**< ABI applied, 0 when none */
    int seccomp;      /**< 1 when the notifying filter was installed */
    enum mg_sandbox_end end;
    int exit_code;
    int term_signal;
    int exec_errno; /**< errno of a failed execve of argv[0], else 0 */
    double seconds;
    uint64_t attempts; /**< events reported */
    uint64_t denied;   /**< events whose policy is deny (in monitor mode:
                            attempts enforce mode would have denied) */
    struct {
        const char *rule;
        uint64_t attempts;
        uint64_t denied;
    } by_rule[MG_SANDBOX_MAX_RULES];
    size_t n_rules;
};

struct mg_sandbox;

/**
 * Create a sandbox: copies the options, resolves the allowed folders
 * (they must exist). @param[out] out receives the handle, also on failure
 * when it could be allocated (then read mg_sandbox_errmsg()); free it with
 * mg_sandbox_free().
 */
MG_API enum mg_status mg_sandbox_new(const struct mg_sandbox_options *opt,
                                     struct mg_sandbox **out);
/** Free a sandbox; NULL is a no-op. */
MG_API void mg_sandbox_free(struct mg_sandbox *sb);
/** Last error message on this handle; valid until the next call on it. */
MG_API const char *mg_sandbox_errmsg(const struct mg_sandbox *sb);

/**
 * Run argv[0] (an absolute path to an executable, not a wrapper script
 * that forks: see mg_sandbox_resolve()) with argv, isolated, answering
 * its notifications until it and all its descendants are gone or the
 * timeout. Returns MG_OK when the target was started (whatever it did;
 * see *res), MG_E_SANDBOX when no acceptable isolation could be set up or
 * the target could not be started, MG_E_INVALID for bad arguments.
 * Calls opt.on_event from this thread.
 */
MG_API enum mg_status mg_sandbox_run(struct mg_sandbox *sb,
                                     const char *const *argv,
                                     struct mg_sandbox_result *res);

/**
 * Resolve a command name the way the sandbox needs it: search PATH when
 * it has no '/', follow symlinks, and skip candidates that are scripts
 * when skip_scripts is set (the pyenv python3 shim execs again, which the
 * policy forbids). Writes a NUL-terminated absolute path into buf.
 * Returns MG_OK, MG_E_IO when nothing suitable was found, MG_E_LIMIT when
 * buf is too small.
 */
MG_API enum mg_status
mg_sandbox_resolve(const char *cmd, int skip_scripts, char *buf, size_t buflen);

#ifdef __cplusplus
}
#endif
#endif /* MODELGATE_MG_SANDBOX_H */
