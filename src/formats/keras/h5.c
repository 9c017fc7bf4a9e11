/*
 * h5.c - HDF5 files: the legacy Keras .h5 model (its model_config and
 * training_config attributes are Keras JSON) and any other HDF5 file,
 * e.g. model.weights.h5 inside a .keras archive.
 *
 * libhdf5 is the only HDF5 reader, and it is not safe on hostile input:
 * HDF5 1.10 crashes on crafted metadata (a one-byte change in a Keras .h5
 * is enough, see tests/unit/formats/keras). So it never runs in the
 * scanning process. A child process (fork, no exec: it needs only the
 * input, already in its memory or readable through its file descriptor)
 * opens the file with libhdf5 through a read-only virtual file driver over
 * the input, walks the groups reachable by hard links (bounded by
 * max-members and max-nesting), and writes what it finds to a pipe as
 * length-prefixed records: attribute values (strings, bytes), external and
 * user-defined links, limits. The child has CPU, time and address-space
 * limits and is killed when it overruns. The parent reads the records
 * with bounds and turns them into findings (Keras JSON, pickles, links).
 * If libhdf5 crashes, what it sent before counts and the crash is itself
 * a finding: h5py and Keras would crash on that file too.
 *
 * Datasets are never opened (their data is weights; opening a virtual
 * dataset would open its source files). The parent never calls libhdf5,
 * so forking from a threaded program cannot inherit a held libhdf5 lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/limits.h"
#include "formats/common/common.h"
#include "formats/format.h"
#include "formats/keras/keras.h"
#include "io/reader.h"

static const uint8_t h5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static unsigned
h5_probe(const uint8_t *h, size_t len, uint64_t size)
{
    (void)size;
    /* The superblock is at 0, 512, 1024, 2048... (a user block first). */
    for (size_t off = 0; off + 8 <= len; off = off ? off * 2 : 512)
        if (memcmp(h + off, h5_sig, 8) == 0)
            return 64;
    return 0;
}

#ifndef MG_HAVE_HDF5

static enum mg_status
h5_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    (void)in;
    return mg_ctx_incomplete(ctx, NULL, 0,
                             "HDF5 file: this modelgate was built without "
                             "libhdf5 (MG_HDF5=OFF)");
}

#else

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Records from the child: type, then three length-prefixed byte strings
   (a, b, c), lengths as 32-bit little-endian. */
enum {
    R_ATTR = 1, /* a: group path, b: attribute name, c: value */
    R_ELINK,    /* a: group path, b: link name, c: file NUL object */
    R_UDLINK,   /* a: group path, b: link name, c: link type (text) */
    R_LIMIT,    /* a: limit name, b: what */
    R_OPENFAIL, /* a: what could not be opened */
    R_DONE      /* c: groups examined (text) */
};

/* ---------------------------------------------------------------- child */

struct mgfd_info {
    struct mg_input *in;
};

struct mgfd {
    H5FD_t pub; /* must be first: libhdf5 owns it */
    struct mg_input *in;
    haddr_t eoa;
};

static H5FD_t *
mgfd_open(const char *name, unsigned flags, hid_t fapl, haddr_t maxaddr)
{
    (void)name;
    (void)maxaddr;
    if (flags & (H5F_ACC_RDWR | H5F_ACC_TRUNC | H5F_ACC_CREAT))
        return NULL;
    const struct mgfd_info *fi = H5Pget_driver_info(fapl);
    if (fi == NULL || fi->in == NULL)
        return NULL;
    struct mgfd *f = mg_calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->in = fi->in;
    return &f->pub;
}

static herr_t
mgfd_close(H5FD_t *file)
{
    mg_free(file);
    return 0;
}

static int
mgfd_cmp(const H5FD_t *a, const H5FD_t *b)
{
    return a < b ? -1 : (a > b);
}

static herr_t
mgfd_query(const H5FD_t *f, unsigned long *flags)
{
    (void)f;
    *flags = 0;
    return 0;
}

static haddr_t
mgfd_get_eoa(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return ((const struct mgfd *)(const void *)file)->eoa;
}

static herr_t
mgfd_set_eoa(H5FD_t *file, H5FD_mem_t type, haddr_t addr)
{
    (void)type;
    ((struct mgfd *)(void *)file)->eoa = addr;
    return 0;
}

static haddr_t
mgfd_get_eof(const H5FD_t *file, H5FD_mem_t type)
{
    (void)type;
    return (haddr_t)((const struct mgfd *)(const void *)file)->in->size;
}

/* Reads past the end of the input return zeros, as libhdf5's own POSIX
   driver does. */
static herr_t
mgfd_read(H5FD_t *file,
          H5FD_mem_t type,
          hid_t dxpl,
          haddr_t addr,
          size_t size,
          void *buf)
{
    (void)type;
    (void)dxpl;
    struct mgfd *f = (struct mgfd *)(void *)file;
    uint64_t sz = f->in->size;
    size_t have = 0;
    if ((uint64_t)addr < sz) {
        uint64_t left = sz - (uint64_t)addr;
        have = (uint64_t)size < left ? size : (size_t)left;
        if (mg_input_read(f->in, (uint64_t)addr, buf, have) != MG_OK)
            return -1;
    }
    if (have < size)
        memset((uint8_t *)buf + have, 0, size - have);
    return 0;
}

static herr_t
mgfd_write(H5FD_t *file,
           H5FD_mem_t type,
           hid_t dxpl,
           haddr_t addr,
           size_t size,
           const void *buf)
{
    (void)file;
    (void)type;
    (void)dxpl;
    (void)addr;
    (void)size;
    (void)buf;
    return -1; /* read-only, always */
}

static const H5FD_class_t mgfd_class = {
    .name = "modelgate_input",
    .maxaddr = ((haddr_t)1 << 62) - 1,
    .fc_degree = H5F_CLOSE_WEAK,
    .fapl_size = sizeof(struct mgfd_info),
    .open = mgfd_open,
    .close = mgfd_close,
    .cmp = mgfd_cmp,
    .query = mgfd_query,
    .get_eoa = mgfd_get_eoa,
    .set_eoa = mgfd_set_eoa,
    .get_eof = mgfd_get_eof,
    .read = mgfd_read,
    .write = mgfd_write,
    .fl_map = H5FD_FLMAP_DICHOTOMY,
};

struct child {
    int fd; /* pipe to the parent */
    size_t nout;
    uint8_t out[65536]; /* records waiting to be written */
    const struct mg_limits *lim;
    uint64_t groups;
    int stopped;
    int dead;           /* the pipe broke */
    haddr_t seen[4096]; /* groups visited (hard-link cycles) */
    size_t nseen;
    char path[1024];
};

static void
flush_out(struct child *c)
{
    const uint8_t *b = c->out;
    size_t n = c->nout;
    while (n > 0 && !c->dead) {
        ssize_t w = write(c->fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            c->dead = 1;
            break;
        }
        b += w;
        n -= (size_t)w;
    }
    c->nout = 0;
}

static void
put_all(struct child *c, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0 && !c->dead) {
        if (c->nout == sizeof(c->out))
            flush_out(c);
        size_t k = sizeof(c->out) - c->nout;
        if (k > n)
            k = n;
        memcpy(c->out + c->nout, b, k);
        c->nout += k;
        b += k;
        n -= k;
    }
}

static void
put_str(struct child *c, const void *p, size_t n)
{
    uint8_t l[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16),
                    (uint8_t)(n >> 24)};
    put_all(c, l, 4);
    put_all(c, p, n);
}

static void
record(struct child *c,
       uint8_t type,
       const char *a,
       const char *b,
       const void *v,
       size_t vn)
{
    put_all(c, &type, 1);
    put_str(c, a, strlen(a));
    put_str(c, b, strlen(b));
    put_str(c, v, vn);
}

static void
limit(struct child *c, const char *name, const char *what)
{
    c->stopped = 1;
    record(c, R_LIMIT, name, what, "", 0);
}

static herr_t
on_attr(hid_t loc, const char *name, const H5A_info_t *info, void *op)
{
    struct child *c = op;
    (void)info;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0)
        return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mem = -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    size_t esz = t >= 0 ? H5Tget_size(t) : 0;
    uint64_t max = c->lim->max_header_bytes;
    if (np <= 0 || np > MG_H5_MAX_ATTR_ELEMENTS)
        goto out;
    if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        mem = H5Tcopy(H5T_C_S1);
        if (mem < 0 || H5Tset_size(mem, H5T_VARIABLE) < 0 ||
            H5Tset_cset(mem, H5Tget_cset(t)) < 0)
            goto out;
        char **v = mg_calloc((size_t)np, sizeof(*v));
        if (v == NULL)
            goto out;
        if (H5Aread(a, mem, v) >= 0) {
            for (hssize_t i = 0; i < np; i++) {
                if (v[i] == NULL)
                    continue;
                size_t lim = max >= SIZE_MAX ? SIZE_MAX - 1 : (size_t)max;
                size_t n = strnlen(v[i], lim + 1);
                if ((uint64_t)n > max)
                    limit(c, "max-header-bytes", name);
                else
                    record(c, R_ATTR, c->path, name, v[i], n);
            }
            H5Dvlen_reclaim(mem, sp, H5P_DEFAULT, v);
        }
        mg_free(v);
    } else if ((cls == H5T_STRING || cls == H5T_OPAQUE ||
                (cls == H5T_INTEGER && esz == 1)) &&
               esz > 0) {
        uint64_t total = (uint64_t)esz * (uint64_t)np;
        if (total > max) {
            limit(c, "max-header-bytes", name);
            goto out;
        }
        uint8_t *b = mg_malloc((size_t)total);
        if (b == NULL)
            goto out;
        if (H5Aread(a, t, b) >= 0) {
            if (cls == H5T_STRING && np > 1) {
                for (hssize_t i = 0; i < np; i++)
                    record(c, R_ATTR, c->path, name, b + (size_t)i * esz, esz);
            } else {
                record(c, R_ATTR, c->path, name, b, (size_t)total);
            }
        }
        mg_free(b);
    }
out:
    if (mem >= 0)
        H5Tclose(mem);
    if (sp >= 0)
        H5Sclose(sp);
    if (t >= 0)
        H5Tclose(t);
    H5Aclose(a);
    return c->dead ? -1 : 0;
}

static int
seen_before(struct child *c, haddr_t a)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i] == a)
            return 1;
    if (c->nseen < sizeof(c->seen) / sizeof(c->seen[0]))
        c->seen[c->nseen++] = a;
    return 0;
}

static void walk(struct child *c, hid_t g, unsigned depth);

struct link_op {
    struct child *c;
    unsigned depth;
};

static herr_t
on_link(hid_t g, const char *name, const H5L_info_t *info, void *op)
{
    struct link_op *lo = op;
    struct child *c = lo->c;
    if (info->type == H5L_TYPE_EXTERNAL) {
        char val[2048];
        size_t vs =
            info->u.val_size < sizeof(val) ? info->u.val_size : sizeof(val);
        const char *file = NULL, *obj = NULL;
        unsigned fl;
        if (H5Lget_val(g, name, val, vs, H5P_DEFAULT) >= 0 &&
            H5Lunpack_elink_val(val, vs, &fl, &file, &obj) >= 0 &&
            file != NULL) {
            char v[2048];
            size_t fn = strnlen(file, 1000), on = obj ? strnlen(obj, 1000) : 0;
            memcpy(v, file, fn);
            v[fn] = '\0';
            memcpy(v + fn + 1, obj ? obj : "", on);
            record(c, R_ELINK, c->path, name, v, fn + 1 + on);
        }
    } else if (info->type != H5L_TYPE_HARD && info->type != H5L_TYPE_SOFT) {
        char v[32];
        snprintf(v, sizeof(v), "%d", (int)info->type);
        record(c, R_UDLINK, c->path, name, v, strlen(v));
    } else if (info->type == H5L_TYPE_HARD && !c->stopped) {
        H5O_info_t oi;
        if (H5Oget_info_by_name2(g, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >=
                0 &&
            oi.type == H5O_TYPE_GROUP && !seen_before(c, oi.addr)) {
            hid_t sub = H5Gopen2(g, name, H5P_DEFAULT);
            if (sub >= 0) {
                size_t plen = strlen(c->path);
                snprintf(c->path + plen, sizeof(c->path) - plen, "%s%s",
                         plen > 1 ? "/" : "", name);
                walk(c, sub, lo->depth + 1);
                c->path[plen] = '\0';
                H5Gclose(sub);
            }
        }
    }
    return c->dead ? -1 : 0;
}

static void
walk(struct child *c, hid_t g, unsigned depth)
{
    if (c->stopped || c->dead)
        return;
    if (++c->groups > c->lim->max_members) {
        limit(c, "max-members", "groups in the HDF5 file");
        return;
    }
    if (depth > c->lim->max_nesting) {
        limit(c, "max-nesting", "groups nested in the HDF5 file");
        return;
    }
    hsize_t idx = 0;
    H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, on_attr, c);
    struct link_op lo = {c, depth};
    idx = 0;
    H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, on_link, &lo);
}

/* In the child: read the file with libhdf5, write records, exit. */
__attribute__((noreturn)) static void
child_main(int fd,
           struct mg_input *in,
           const struct mg_limits *lim,
           unsigned seconds)
{
    struct rlimit cpu = {seconds, seconds + 1}, core = {0, 0};
    setrlimit(RLIMIT_CPU, &cpu);
    setrlimit(RLIMIT_CORE, &core);
    /* A crash in libhdf5 ends the child, which the parent reports: the
       handlers it inherited (the host program's, a sanitizer's, a
       fuzzer's, which would write crash files) must not run here. */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &dfl, NULL);
    /* glibc reports heap corruption on stderr: not ours to print */
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
        dup2(devnull, 2);
        close(devnull);
    }
    /* Address space: what the child inherited, plus a fixed budget. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f != NULL) {
        char line[128];
        if (fgets(line, sizeof(line), f) != NULL)
            pages = strtoul(line, NULL, 10);
        fclose(f);
    }
    long psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0) {
        rlim_t as = (rlim_t)pages * (rlim_t)psz + MG_H5_CHILD_MEMORY;
        struct rlimit mem = {as, as};
        setrlimit(RLIMIT_AS, &mem);
    }
    /* libhdf5 prints its error stack by default */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct child *c = mg_calloc(1, sizeof(*c));
    if (c == NULL)
        _exit(3);
    c->fd = fd;
    c->lim = lim;
    memcpy(c->path, "/", 2);
    struct mgfd_info info = {in};
    hid_t drv = H5FDregister(&mgfd_class);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (drv < 0 || fapl < 0 || H5Pset_driver(fapl, drv, &info) < 0)
        _exit(4);
    hid_t file = H5Fopen("modelgate-input", H5F_ACC_RDONLY, fapl);
    hid_t root = file >= 0 ? H5Gopen2(file, "/", H5P_DEFAULT) : -1;
    if (root < 0) {
        record(c, R_OPENFAIL, file < 0 ? "file" : "root group", "", "", 0);
    } else {
        walk(c, root, 0);
        char n[32];
        snprintf(n, sizeof(n), "%" PRIu64, c->groups);
        record(c, R_DONE, "", "", n, strlen(n));
    }
    flush_out(c);
    _exit(0);
}

/* --------------------------------------------------------------- parent */

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct run {
    uint8_t *buf;
    size_t len;
    int status; /* waitpid status */
    int timed_out;
    int overflow; /* the child sent more than the cap */
};

/*
 * Walk the whole records from *parsed on; 1 when the last one (R_DONE or
 * R_OPENFAIL) is in: the parent stops reading then rather than waiting
 * for end of file, which a process forked meanwhile by another thread
 * (holding the pipe too) would delay.
 */
static int
last_record(const uint8_t *b, size_t len, size_t *parsed)
{
    for (;;) {
        size_t p = *parsed;
        if (len - p < 1)
            return 0;
        uint8_t type = b[p++];
        for (int i = 0; i < 3; i++) {
            if (len - p < 4)
                return 0;
            uint32_t n = mg_le32(b + p);
            p += 4;
            if (n > len - p)
                return 0;
            p += n;
        }
        *parsed = p;
        if (type == R_DONE || type == R_OPENFAIL)
            return 1;
    }
}

/* Fork the reader and collect its records (at most cap bytes). */
static enum mg_status
run_child(struct mg_ctx *ctx,
          struct mg_input *in,
          size_t cap,
          unsigned seconds,
          struct run *r)
{
    memset(r, 0, sizeof(*r));
    int fds[2];
    if (pipe(fds) != 0)
        return MG_E_IO;
    /* Programs other threads start must not keep the pipe open. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    r->buf = mg_malloc(cap ? cap : 1);
    if (r->buf == NULL) {
        close(fds[0]);
        close(fds[1]);
        return MG_E_NOMEM;
    }
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return MG_E_IO;
    }
    if (pid == 0) {
        close(fds[0]);
        child_main(fds[1], in, ctx->lim, seconds);
    }
    close(fds[1]);
    uint64_t deadline = now_ms() + (uint64_t)seconds * 1000u;
    size_t parsed = 0; /* records seen whole so far */
    for (;;) {
        uint64_t t = now_ms();
        if (t >= deadline) {
            r->timed_out = 1;
            break;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int k = poll(&p, 1, (int)(deadline - t > 1000 ? 1000 : deadline - t));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        if (k == 0)
            continue;
        uint8_t tmp[65536];
        ssize_t n = read(fds[0], tmp, sizeof(tmp));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t take = (size_t)n;
        if (take > cap - r->len) {
            take = cap - r->len;
            r->overflow = 1;
        }
        memcpy(r->buf + r->len, tmp, take);
        r->len += take;
        if (r->overflow || last_record(r->buf, r->len, &parsed))
            break;
    }
    close(fds[0]);
    if (r->timed_out || r->overflow)
        kill(pid, SIGKILL);
    while (waitpid(pid, &r->status, 0) < 0 && errno == EINTR)
        ;
    return MG_OK;
}

/* One attribute value: Keras JSON, or a pickle. */
static enum mg_status
judge_value(struct mg_ctx *ctx,
            const char *path,
            size_t pl,
            const char *name,
            size_t nl,
            const uint8_t *v,
            size_t n,
            int *keras)
{
    char where[800], pq[300], nq[300];
    mg_quote(pq, sizeof(pq), path, pl, 120);
    mg_quote(nq, sizeof(nq), name, nl, 120);
    snprintf(where, sizeof(where), "HDF5 attribute %s%s%s", pq,
             strcmp(pq, "/") ? "/" : "", nq);
    /* Fixed-length strings are padded with NULs or spaces. */
    while (n > 0 && (v[n - 1] == 0 || v[n - 1] == ' '))
        n--;
    if (n >= 3 && v[0] == 0x80 && v[1] >= 2 && v[1] <= 5) {
        struct mg_input pin;
        mg_input_mem(&pin, v, n);
        enum mg_status st =
            mg_ctx_findf(ctx, MG_SEV_INFO, "h5-embedded-pickle", -1,
                         "%s holds a %zu-byte pickle: "
                         "scanned as its own layer",
                         where, n);
        return st == MG_OK ? mg_scan_input(ctx, &pin, where) : st;
    }
    int config = (nl == 12 && memcmp(name, "model_config", 12) == 0) ||
                 (nl == 15 && memcmp(name, "training_config", 15) == 0);
    if (config || (n > 0 && mg_keras_json_probe(v, n) > 0)) {
        if (nl == 12 && memcmp(name, "model_config", 12) == 0)
            *keras = 1;
        return mg_keras_scan_json(ctx, v, n, -1, where);
    }
    return MG_OK;
}

static enum mg_status
link_finding(struct mg_ctx *ctx,
             int type,
             const char *path,
             size_t pl,
             const char *name,
             size_t nl,
             const uint8_t *v,
             size_t n)
{
    char pq[300], nq[300];
    mg_quote(pq, sizeof(pq), path, pl, 120);
    mg_quote(nq, sizeof(nq), name, nl, 120);
    const char *sep = strcmp(pq, "/") ? "/" : "";
    if (type == R_UDLINK) {
        char tq[64];
        mg_quote(tq, sizeof(tq), v, n, 16);
        return mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "h5-external-link", -1,
                            "link %s%s%s is of user-defined type %s: "
                            "following it runs a link class the loading "
                            "program registered",
                            pq, sep, nq, tq);
    }
    const uint8_t *z = memchr(v, 0, n);
    size_t fn = z ? (size_t)(z - v) : n;
    const uint8_t *obj = z ? z + 1 : v + n;
    size_t on = z ? n - fn - 1 : 0;
    char fq[400], oq[400];
    mg_quote(fq, sizeof(fq), v, fn, 120);
    mg_quote(oq, sizeof(oq), obj, on, 120);
    enum mg_path_risk risk = mg_path_risk((const char *)v, fn, 0);
    return mg_ctx_findf(
        ctx, risk == MG_PATH_OK ? MG_SEV_SUSPICIOUS : MG_SEV_DANGEROUS,
        "h5-external-link", -1,
        "link %s%s%s points into another file \"%s\" (object "
        "\"%s\")%s%s: h5py opens it when the link is followed",
        pq, sep, nq, fq, oq, risk == MG_PATH_OK ? "" : ", a path that ",
        risk == MG_PATH_OK ? "" : mg_path_risk_text(risk));
}

/* Turn the child's records into findings. */
static enum mg_status
replay(struct mg_ctx *ctx,
       const struct run *r,
       int *done,
       int *keras,
       uint64_t *groups)
{
    struct mg_reader rd;
    rd_init(&rd, r->buf, r->len);
    enum mg_status st = MG_OK;
    while (st == MG_OK && rd_left(&rd) > 0) {
        uint8_t type;
        const uint8_t *s[3];
        uint32_t n[3];
        if (rd_u8(&rd, &type) != MG_OK)
            break;
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++)
            ok = rd_u32le(&rd, &n[i]) == MG_OK &&
                 rd_bytes(&rd, n[i], &s[i]) == MG_OK;
        if (!ok)
            break; /* a record cut by a crash or the cap */
        const char *a = (const char *)s[0], *b = (const char *)s[1];
        switch (type) {
        case R_ATTR:
            st = judge_value(ctx, a, n[0], b, n[1], s[2], n[2], keras);
            break;
        case R_ELINK:
        case R_UDLINK:
            st = link_finding(ctx, type, a, n[0], b, n[1], s[2], n[2]);
            break;
        case R_LIMIT: {
            char ln[40], what[300];
            mg_quote(ln, sizeof(ln), a, n[0], 30);
            mg_quote(what, sizeof(what), b, n[1], 120);
            st = mg_ctx_incomplete(ctx, ln, -1, what);
            break;
        }
        case R_OPENFAIL:
            st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "h5-malformed", 0,
                              "the file has an HDF5 signature but libhdf5 "
                              "cannot open it: loaders refuse it");
            *done = 1;
            break;
        case R_DONE: {
            char num[32];
            size_t k = n[2] < sizeof(num) - 1 ? n[2] : sizeof(num) - 1;
            memcpy(num, s[2], k);
            num[k] = '\0';
            *groups = strtoull(num, NULL, 10);
            *done = 1;
            break;
        }
        default:
            break;
        }
    }
    return st;
}

static enum mg_status
h5_scan(struct mg_ctx *ctx, struct mg_input *in)
{
    struct mg_input tmp, *use;
    uint8_t *buf = NULL;
    enum mg_status st;
    if (!mg_fmt_random(ctx, in, ctx->lim->max_member_bytes, &tmp, &buf, &use,
                       &st))
        return st;
    unsigned seconds = MG_H5_CHILD_SECONDS;
    if (ctx->lim->max_seconds > 0 && ctx->lim->max_seconds < seconds)
        seconds = (unsigned)ctx->lim->max_seconds;
    /* Attribute values are at most max-header-bytes each; the records of
       one file are capped at twice that. */
    uint64_t cap64 = ctx->lim->max_header_bytes * 2 + (1u << 20);
    size_t cap = cap64 > MG_MAX_ALLOCATION ? MG_MAX_ALLOCATION : (size_t)cap64;
    struct run r;
    st = run_child(ctx, use, cap, seconds, &r);
    if (st != MG_OK) {
        mg_free(r.buf);
        mg_free(buf);
        return st == MG_E_NOMEM
                   ? st
                   : mg_ctx_incomplete(ctx, NULL, 0,
                                       "could not start the HDF5 reader "
                                       "process");
    }
    int done = 0, keras = 0;
    uint64_t groups = 0;
    st = replay(ctx, &r, &done, &keras, &groups);
    if (st == MG_OK && r.timed_out)
        st = mg_ctx_incomplete(ctx, "max-seconds", -1,
                               "libhdf5 did not finish reading the file");
    else if (st == MG_OK && r.overflow)
        st = mg_ctx_incomplete(ctx, "max-header-bytes", -1,
                               "HDF5 attributes, all together");
    else if (st == MG_OK && WIFSIGNALED(r.status) &&
             WTERMSIG(r.status) == SIGXCPU)
        st = mg_ctx_incomplete(ctx, "max-seconds", -1,
                               "libhdf5 used up its CPU time");
    else if (st == MG_OK && !done &&
             (WIFSIGNALED(r.status) ||
              (WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0)))
        /* a signal, or a sanitizer's exit status in instrumented builds */
        st = mg_ctx_findf(ctx, MG_SEV_SUSPICIOUS, "h5-malformed", -1,
                          "libhdf5 crashed (%s %d) reading this file: h5py "
                          "and Keras would crash on it too, which a crafted "
                          "file uses to attack the loader; what was read "
                          "before the crash is reported",
                          WIFSIGNALED(r.status) ? "signal" : "exit status",
                          WIFSIGNALED(r.status) ? WTERMSIG(r.status)
                                                : WEXITSTATUS(r.status));
    else if (st == MG_OK && !done)
        st = mg_ctx_incomplete(ctx, NULL, -1,
                               "the HDF5 reader process stopped early");
    else if (st == MG_OK && groups > 0)
        st = mg_ctx_findf(ctx, MG_SEV_INFO, "h5-summary", -1,
                          "HDF5%s: %" PRIu64 " groups examined",
                          keras ? " (Keras model)" : "", groups);
    mg_free(r.buf);
    mg_free(buf);
    return st;
}

#endif /* MG_HAVE_HDF5 */

const struct mg_format mg_format_hdf5 = {"hdf5", h5_probe, h5_scan};
