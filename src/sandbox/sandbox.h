/*
 * sandbox.h - internals of the sandbox, shared by its files (one concern
 * each: ns.c, caps.c, landlock.c, seccomp.c, rlimit.c, ipc.c, child.c,
 * mem.c, decode.c, policy.c, emulate.c, supervisor.c, probe.c,
 * sandbox.c). docs/sandbox.md describes the design; the rules are those of
 * reference B4: the child is hostile, every byte read from it goes through
 * the bounded reader, an allow decision never rests on pointer contents
 * alone.
 */
#ifndef MG_SANDBOX_SANDBOX_H
#define MG_SANDBOX_SANDBOX_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "modelgate/mg_sandbox.h"

/* Internal caps (not user settings). */
#define SB_PATH_MAX        4096u  /* bytes of a path read from the target */
#define SB_ARGV_MAX        32u    /* argv entries reported per exec */
#define SB_ARG_MAX         256u   /* bytes kept of one argv entry */
#define SB_ARGBUF          4096u  /* bytes of all argv entries of one event */
#define SB_SOCKADDR_MAX    128u   /* sizeof(struct sockaddr_storage) */
#define SB_MMSG_MAX        16u    /* sendmmsg entries inspected */
#define SB_CONNECT_WAIT_MS 10000u /* an emulated connect waits at most */
#define SB_DRAIN_MS                               \
    2000u /* after the target exits, wait for the \
             rest of its tree this long */

struct mg_sandbox {
    struct mg_sandbox_options opt; /* allow_write/env/cwd not kept */
    char **allow;                  /* resolved allowed folders */
    size_t nallow;
    char *cwd;
    char errmsg[256];
};

__attribute__((format(printf, 3, 4))) enum mg_status
sb_error(struct mg_sandbox *sb, enum mg_status st, const char *fmt, ...);

/* ---- one notification, from registers (seccomp.c fills it) ---- */
struct sb_call {
    uint64_t id;
    int tid;
    int nr;
    uint64_t args[6];
};

/* ---- policy.c: the syscall table and the decision ---- */
enum sb_class {
    SB_EXEC,     /* execve, execveat */
    SB_FORK,     /* fork, vfork */
    SB_CLONE,    /* clone without CLONE_THREAD or with a namespace flag */
    SB_SOCKET,   /* socket with a family other than AF_UNIX */
    SB_CONNECT,  /* connect */
    SB_BIND,     /* bind */
    SB_SENDTO,   /* sendto with an address */
    SB_SENDMSG,  /* sendmsg: address inside struct msghdr */
    SB_SENDMMSG, /* sendmmsg: an array of them */
    SB_OPEN,     /* open/openat with a write flag; creat */
    SB_FSMUT,    /* unlink, rename, mkdir, link, truncate, ... */
    SB_PERM,     /* chmod, chown, xattr, utime families */
    SB_PRIV      /* always refused: ptrace, mount, bpf, ... */
};

struct sb_sysinfo {
    int nr;
    const char *name;
    enum sb_class cls;
    signed char dirfd;  /* argument holding a dirfd, -1: AT_FDCWD */
    signed char path;   /* argument holding a path, -1: none */
    signed char dirfd2; /* second path (rename, link) */
    signed char path2;
    signed char flags; /* open flags argument, -1: none */
    const char *rule;  /* SB_PRIV: its rule id */
};

/* The table: every syscall the filter sends to the supervisor. */
const struct sb_sysinfo *sb_sys_table(size_t *n);
const struct sb_sysinfo *sb_sys_lookup(int nr);

/* A socket address decoded from the target (decode.c). */
struct sb_addr {
    int family;     /* AF_*, -1 when not read */
    char text[160]; /* "192.0.2.1", "::1", "/run/x", "@abstract" */
    int port;       /* -1 when none */
    int loopback;   /* 127/8, ::1, ::ffff:127/104 */
    int unix_path;  /* AF_UNIX with a path (not abstract, not unnamed) */
};

/* Everything decoded for one call; strings are from the target. */
struct sb_decoded {
    int have_path, have_rpath, have_path2, have_rpath2;
    char path[SB_PATH_MAX];  /* as passed */
    char rpath[SB_PATH_MAX]; /* absolute, normalised (for decisions) */
    char path2[SB_PATH_MAX];
    char rpath2[SB_PATH_MAX];
    int have_addr;
    struct sb_addr addr;
    size_t argc;
    int argv_truncated;
    const char *argv[SB_ARGV_MAX];
    char argbuf[SB_ARGBUF];
    int read_failed; /* a pointer argument could not be read */
};

/* Fixed facts of a run the decisions depend on. */
struct sb_ctx {
    int monitor;
    int allow_loopback;
    int namespaces;
    int landlock;  /* Landlock enforces the write rules */
    int first_tid; /* the launcher (supervisor's pid namespace) */
    int exec_done; /* the launcher's own execve was seen */
    char *const *allow;
    size_t nallow;
};

enum sb_action {
    SB_CONTINUE, /* let the syscall run */
    SB_FAIL,     /* fail it with err */
    SB_EMULATE   /* connect() done by the supervisor with its copy */
};

struct sb_verdict {
    const char *rule;
    const char *category;
    const char *severity;
    int policy_deny; /* enforce mode refuses it */
    enum sb_action action;
    int err;    /* errno for SB_FAIL */
    int silent; /* nothing worth an event (sendmsg without address) */
};

/* Pure: decide on a call from its registers and decoded arguments. */
void sb_decide(const struct sb_ctx *c,
               const struct sb_sysinfo *si,
               const struct sb_call *call,
               const struct sb_decoded *d,
               struct sb_verdict *v);

/* ---- decode.c: pure decoders of bytes read from the target ---- */
enum mg_status
sb_decode_sockaddr(const uint8_t *p, size_t len, struct sb_addr *out);
/* struct msghdr: msg_name and msg_namelen. */
enum mg_status sb_decode_msghdr(const uint8_t *p,
                                size_t len,
                                uint64_t *name,
                                uint32_t *namelen);
/* Pointers of a NULL-terminated array (argv): up to max, *n found,
 *terminated when the NULL was inside p. */
enum mg_status sb_decode_ptrs(const uint8_t *p,
                              size_t len,
                              uint64_t *out,
                              size_t max,
                              size_t *n,
                              int *terminated);
/* base + "/" + rel, then "." "..", "//" removed; 0 or -1 when too long
   or base is not absolute. rel absolute: base is ignored. */
int sb_path_normalize(const char *base, const char *rel, char *out, size_t cap);
/* 1 when path is dir or below it (both normalised). */
int sb_path_beneath(const char *path, const char *dir);
const char *sb_family_name(int family);

/* ---- mem.c: reading the target (never trusted) ---- */
int sb_mem_open(int tid);
/* Exactly len bytes at addr: 0, or -1. */
int sb_mem_read(int memfd, uint64_t addr, void *buf, size_t len);
/* NUL-terminated string at addr, page by page, at most cap-1 bytes:
   returns its length, -1 when unreadable; *truncated when cut. */
long sb_mem_read_str(
    int memfd, uint64_t addr, char *buf, size_t cap, int *truncated);
int sb_proc_readlink(int tid, const char *what, char *buf, size_t cap);
int sb_proc_tgid(int tid);
void sb_proc_comm(int tid, char *buf, size_t cap);

/* ---- ipc.c: child -> supervisor messages (length-prefixed) ---- */
enum sb_msg_type {
    SB_MSG_READY = 1, /* filter loaded; payload: notify fd, flags, ABI */
    SB_MSG_ERROR = 2, /* set-up failed; payload: stage, errno */
    SB_MSG_GO = 3     /* supervisor -> child: go on */
};
enum sb_stage {
    SB_STAGE_SYNC = 1,
    SB_STAGE_MOUNT,
    SB_STAGE_LOOPBACK,
    SB_STAGE_SETSID,
    SB_STAGE_RLIMIT,
    SB_STAGE_CAPS,
    SB_STAGE_NNP,
    SB_STAGE_LANDLOCK,
    SB_STAGE_SECCOMP,
    SB_STAGE_CWD,
    SB_STAGE_EXEC,
    SB_STAGE_MAX_ = SB_STAGE_EXEC
};
#define SB_READY_PROC     0x1u /* a fresh /proc was mounted */
#define SB_READY_LOOPBACK 0x2u /* lo is up */
#define SB_MSG_MAGIC      "MGSB"
#define SB_MSG_VERSION    1
#define SB_MSG_HEADER     8u  /* magic, version, type, u16le length */
#define SB_MSG_MAX        64u /* header + the largest payload */

struct sb_msg {
    enum sb_msg_type type;
    uint32_t notify_fd, flags, landlock_abi; /* READY */
    uint32_t stage, err;                     /* ERROR */
};
/* Decode one message from buf. MG_E_TRUNCATED: need more bytes;
   MG_E_MALFORMED: not a valid message; *used bytes consumed on MG_OK. */
enum mg_status
sb_ipc_decode(const uint8_t *buf, size_t len, struct sb_msg *out, size_t *used);
/* Encode into buf (SB_MSG_MAX bytes); returns the length. */
size_t sb_ipc_encode(const struct sb_msg *m, uint8_t *buf);
int sb_ipc_send(int fd, const struct sb_msg *m);
/* Read one message within timeout_ms: MG_OK, MG_E_IO (EOF, error or
   time-out), MG_E_MALFORMED. */
enum mg_status sb_ipc_recv(int fd, struct sb_msg *out, int timeout_ms);
const char *sb_stage_name(uint32_t stage);

/* ---- child.c: what the child does between clone and execve ---- */
struct sb_child_args {
    int ipc_fd;
    int namespaces;
    int allow_loopback;
    int landlock_abi; /* 0: do not use Landlock */
    int seccomp;      /* 0: no filter (MG_ISOLATION_NONE) */
    char *const *allow;
    size_t nallow;
    uint64_t fsize, nofile, cpu;
    const char *cwd;
    const char *path;
    char *const *argv;
    char *const *envp;
};
__attribute__((noreturn)) void sb_child_main(const struct sb_child_args *a);

/* ---- ns.c ---- */
/* clone() with the namespace flags (fork-like); -1 with errno. */
pid_t sb_ns_clone(void);
int sb_ns_write_maps(pid_t pid, uid_t uid, gid_t gid);
int sb_ns_setup_mounts(int *proc_mounted);
int sb_ns_loopback_up(void);

/* ---- caps.c / rlimit.c / landlock.c / seccomp.c ---- */
int sb_caps_drop_all(void);
int sb_rlimits_apply(uint64_t fsize, uint64_t nofile, uint64_t cpu);
int sb_landlock_abi(void);
int
sb_landlock_apply(int abi, char *const *allow, size_t nallow, int handle_tcp);
/* Load the filters; *notify_fd receives the listener. 0 or -errno. */
int sb_seccomp_install(int *notify_fd);
int sb_seccomp_notify_available(void);
struct sb_notif;
int sb_notif_new(struct sb_notif **out);
void sb_notif_free(struct sb_notif *n);
/* 0, or -errno (-ENOENT: the thread died before we read it). */
int sb_notif_recv(int fd, struct sb_notif *n, struct sb_call *out);
int sb_notif_id_valid(int fd, uint64_t id);
/* cont: SECCOMP_USER_NOTIF_FLAG_CONTINUE; else err (>0: fails with
   -err, 0: returns val). 0, or -errno. */
int sb_notif_respond(
    int fd, struct sb_notif *n, uint64_t id, int cont, int err, int64_t val);

/* ---- emulate.c ---- */
/* connect(fd of thread tid, addr) done by the supervisor, with its own
   copy of addr: returns 0 or a positive errno to give the target. */
int sb_emulate_connect(int notify_fd,
                       uint64_t id,
                       int tid,
                       int tgid,
                       int fd,
                       const uint8_t *addr,
                       size_t len);

/* ---- supervisor.c ---- */
struct sb_run {
    struct mg_sandbox *sb;
    struct mg_sandbox_result *res;
    struct sb_ctx ctx;
    pid_t child;
    int pidfd, notify_fd, ipc_fd;
    uint64_t seq;
    double t0;
    uint64_t deadline_ms; /* CLOCK_MONOTONIC */
};
/* Answer notifications until the target's tree is gone or the deadline;
   fills run->res (end, exit_code, counts). */
enum mg_status sb_supervise(struct sb_run *run);
uint64_t sb_now_ms(void);
const char *sb_errno_name(int err);

#endif
