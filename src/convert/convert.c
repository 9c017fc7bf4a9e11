/*
 * convert.c - modelgate convert, the public API (mg_convert.h): scan the
 * input (the verdict decides whether to go on), rebuild the checkpoint
 * symbolically, write the safetensors file to a temporary file next to
 * the destination, fsync it and rename it into place. Whatever stops the
 * conversion removes the temporary file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "convert/convert_int.h"
#include "core/alloc.h"
#include "core/input.h"
#include "core/limits.h"
#include "core/scanner.h"

void
mg_convert_options_init(struct mg_convert_options *o)
{
    memset(o, 0, sizeof(*o));
    mg_options_init(&o->scan);
}

/* ------------------------------------------------------------------ */
/* the result */

struct mg_conversion *
cv_conversion_new(void)
{
    struct mg_conversion *c = mg_calloc(1, sizeof(*c));
    if (c != NULL)
        c->result = MG_CONVERT_FAILED;
    return c;
}

void
mg_conversion_free(struct mg_conversion *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nnotes; i++)
        mg_free(c->notes[i]);
    mg_free(c->notes);
    for (size_t i = 0; i < c->nreports; i++)
        mg_report_free(c->reports[i]);
    mg_free(c->reports);
    for (size_t i = 0; i < c->noutputs; i++)
        mg_free(c->outputs[i]);
    mg_free(c->outputs);
    mg_free(c);
}

enum mg_convert_result
mg_conversion_result(const struct mg_conversion *c)
{
    return c ? c->result : MG_CONVERT_FAILED;
}

const char *
mg_conversion_reason(const struct mg_conversion *c)
{
    return c ? c->reason : "no conversion";
}

size_t
mg_conversion_tensors(const struct mg_conversion *c)
{
    return c ? c->tensors : 0;
}

size_t
mg_conversion_aliases(const struct mg_conversion *c)
{
    return c ? c->aliases : 0;
}

uint64_t
mg_conversion_data_bytes(const struct mg_conversion *c)
{
    return c ? c->data_bytes : 0;
}

size_t
mg_conversion_note_count(const struct mg_conversion *c)
{
    return c ? c->nnotes : 0;
}

const char *
mg_conversion_note(const struct mg_conversion *c, size_t i)
{
    return c && i < c->nnotes ? c->notes[i] : NULL;
}

size_t
mg_conversion_report_count(const struct mg_conversion *c)
{
    return c ? c->nreports : 0;
}

const struct mg_report *
mg_conversion_report(const struct mg_conversion *c, size_t i)
{
    return c && i < c->nreports ? c->reports[i] : NULL;
}

size_t
mg_conversion_output_count(const struct mg_conversion *c)
{
    return c ? c->noutputs : 0;
}

const char *
mg_conversion_output(const struct mg_conversion *c, size_t i)
{
    return c && i < c->noutputs ? c->outputs[i] : NULL;
}

enum mg_status
cv_add_output(struct mg_conversion *c, const char *path)
{
    char **v =
        cv_reserve(c->outputs, c->noutputs, &c->capoutputs, sizeof(*v), 4);
    char *p = v ? mg_strdup(path) : NULL;
    if (p == NULL)
        return MG_E_NOMEM;
    c->outputs = v;
    c->outputs[c->noutputs++] = p;
    return MG_OK;
}

enum mg_status
cv_add_report(struct mg_conversion *c, struct mg_report *r)
{
    struct mg_report **v =
        cv_reserve(c->reports, c->nreports, &c->capreports, sizeof(*v), 4);
    if (v == NULL) {
        mg_report_free(r);
        return MG_E_NOMEM;
    }
    c->reports = v;
    c->reports[c->nreports++] = r;
    return MG_OK;
}

enum mg_status
cv_finish(struct mg_conversion *c, enum mg_status st)
{
    if (st == MG_OK) {
        c->result = MG_CONVERTED;
        c->reason[0] = '\0';
    } else if (c->result != MG_REFUSED_UNSAFE) {
        c->result = st == MG_E_IO || st == MG_E_NOMEM || st == MG_E_INTERNAL
                        ? MG_CONVERT_FAILED
                        : MG_REFUSED_UNSUPPORTED;
        if (c->reason[0] == '\0')
            snprintf(c->reason, sizeof(c->reason), "%s", mg_strerror(st));
    }
    if (c->notes_dropped > 0) {
        uint64_t n = c->notes_dropped;
        c->notes_dropped = 0;
        c->nnotes--; /* room for the count, in place of the last note */
        mg_free(c->notes[c->nnotes]);
        if (cv_note(c, "... and %llu more notes", (unsigned long long)n + 1) !=
            MG_OK)
            return MG_E_NOMEM;
    }
    return st == MG_E_IO || st == MG_E_NOMEM || st == MG_E_INTERNAL ? st
                                                                    : MG_OK;
}

/* ------------------------------------------------------------------ */
/* the scan */

enum mg_status
cv_scan_gate(struct mg_conversion *c,
             struct mg_scanner *sc,
             struct mg_input *in,
             const char *path,
             int force)
{
    struct mg_report *r = NULL;
    enum mg_status st = mg_scan_opened(sc, in, path, &r);
    if (r == NULL)
        return cv_refuse(c, st != MG_OK ? st : MG_E_NOMEM, "%s: %s", path,
                         mg_strerror(st != MG_OK ? st : MG_E_NOMEM));
    enum mg_status ast = cv_add_report(c, r);
    if (ast != MG_OK)
        return ast;
    if (st == MG_E_NOMEM || st == MG_E_IO)
        return cv_refuse(c, st, "%s: %s", path, mg_strerror(st));
    enum mg_verdict v = mg_report_verdict(r);
    /* The worst finding, for the reason. */
    const struct mg_finding *worst = NULL;
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (worst == NULL || f->severity > worst->severity)
            worst = f;
    }
    const char *what = worst ? worst->message : "";
    const char *rule = worst ? worst->rule : "";
    switch (v) {
    case MG_VERDICT_SAFE:
        return MG_OK;
    case MG_VERDICT_UNKNOWN:
    case MG_VERDICT_SUSPICIOUS:
        if (force)
            return cv_note(c,
                           "scan verdict %s, converted anyway (--force): "
                           "%s: %s",
                           mg_verdict_name(v), rule, what);
        c->result = MG_REFUSED_UNSAFE;
        return cv_refuse(c, MG_E_UNSUPPORTED,
                         "the scan's verdict is %s (%s: %s); --force "
                         "converts it anyway",
                         mg_verdict_name(v), rule, what);
    case MG_VERDICT_DANGEROUS:
        c->result = MG_REFUSED_UNSAFE;
        return cv_refuse(c, MG_E_UNSUPPORTED,
                         "the scan found something dangerous (%s: %s); it "
                         "is never converted",
                         rule, what);
    case MG_VERDICT_ERROR:
    default:
        c->result = MG_REFUSED_UNSAFE;
        return cv_refuse(c, MG_E_UNSUPPORTED,
                         "the scan could not read the whole file (%s); it "
                         "is not converted",
                         what);
    }
}

/* ------------------------------------------------------------------ */
/* paths */

char *
cv_rename(const char *base)
{
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    /* "pytorch_model" -> "model", every occurrence (str.replace) */
    static const char from[] = "pytorch_model";
    const size_t fl = sizeof(from) - 1;
    char *out = mg_malloc(stem + sizeof(".safetensors"));
    if (out == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < stem;) {
        if (stem - i >= fl && memcmp(base + i, from, fl) == 0) {
            memcpy(out + k, "model", 5);
            k += 5;
            i += fl;
        } else {
            out[k++] = base[i++];
        }
    }
    memcpy(out + k, ".safetensors", sizeof(".safetensors"));
    return out;
}

enum mg_status
cv_tmp_open(struct mg_conversion *c,
            const char *dir,
            const char *base,
            char **tmp,
            int *fd)
{
    *tmp = NULL;
    *fd = -1;
    if (dir == NULL)
        dir = ".";
    size_t n = strlen(dir) + strlen(base) + 64;
    char *p = mg_malloc(n);
    if (p == NULL)
        return MG_E_NOMEM;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        snprintf(p, n, "%s/.%s.%ld-%lx.tmp", dir, base, (long)getpid(),
                 (unsigned long)ts.tv_nsec + attempt * 7919u);
        int f =
            open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
        if (f >= 0) {
            *tmp = p;
            *fd = f;
            return MG_OK;
        }
        if (errno != EEXIST)
            break;
    }
    enum mg_status st = cv_refuse(c, MG_E_IO, "cannot create a file in %s: %s",
                                  dir, strerror(errno));
    mg_free(p);
    return st;
}

enum mg_status
cv_tmp_finish(struct mg_conversion *c, int fd, const char *tmp)
{
    int bad = fsync(fd) != 0;
    int e = errno;
    bad |= close(fd) != 0;
    if (bad)
        return cv_refuse(c, MG_E_IO, "writing %s: %s", tmp,
                         strerror(bad ? e : errno));
    return MG_OK;
}

char *
cv_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return mg_strdup(".");
    if (slash == path)
        return mg_strdup("/");
    return mg_strndup(path, (size_t)(slash - path));
}

static const char *
base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void
sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse it */
        close(fd);
    }
}

/* ------------------------------------------------------------------ */
/* one file */

enum mg_status
cv_convert_input(struct cv_model *m, struct cv_sink *out)
{
    enum mg_status st = cv_load(m);
    if (st == MG_OK)
        st = cv_plan(m);
    if (st == MG_OK)
        st = cv_write(m, out);
    if (st == MG_E_NOMEM)
        cv_refuse(m->res, st, "out of memory");
    return st;
}

/* Where the output goes: out_path, or a file in it when it is a folder. */
static char *
output_path(const char *in_path, const char *out_path)
{
    struct stat sb;
    if (stat(out_path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return mg_strdup(out_path);
    char *name = cv_rename(base_of(in_path));
    if (name == NULL)
        return NULL;
    size_t n = strlen(out_path) + strlen(name) + 2;
    char *p = mg_malloc(n);
    if (p != NULL)
        snprintf(p, n, "%s/%s", out_path, name);
    mg_free(name);
    return p;
}

enum mg_status
cv_convert_path(struct mg_conversion *c,
                struct mg_scanner *sc,
                const char *in_path,
                const char *dir,
                const char *base,
                int force,
                struct cv_model *m,
                char **tmp)
{
    *tmp = NULL;
    cv_model_init(m, NULL, c, NULL);
    struct mg_input in;
    struct mg_file_input f;
    char err[200];
    int fd = -1;
    enum mg_status st = mg_input_file(&in, &f, in_path, err, sizeof(err));
    if (st != MG_OK)
        return cv_refuse(c, st == MG_E_NOMEM ? st : MG_E_IO, "%s: %s", in_path,
                         err);
    st = cv_scan_gate(c, sc, &in, in_path, force);
    if (st == MG_OK)
        st = cv_tmp_open(c, dir, base, tmp, &fd);
    if (st == MG_OK) {
        cv_model_init(m, &sc->opt.limits, c, &in);
        m->fd = f.data == NULL ? f.fd : -1; /* small files are read whole */
        struct cv_sink sink = {.fd = fd};
        st = cv_convert_input(m, &sink);
    }
    if (st == MG_OK) {
        st = cv_tmp_finish(c, fd, *tmp);
        fd = -1;
    }
    if (fd >= 0)
        close(fd);
    if (st != MG_OK && *tmp != NULL) {
        unlink(*tmp);
        mg_free(*tmp);
        *tmp = NULL;
    }
    /* The model outlives the input: only its names and sizes are used. */
    m->in = NULL;
    m->fd = -1;
    mg_input_file_close(&f);
    return st;
}

enum mg_status
mg_convert_file(const struct mg_convert_options *o,
                const char *in_path,
                const char *out_path,
                struct mg_conversion **out)
{
    if (out == NULL)
        return MG_E_INVALID;
    *out = NULL;
    if (o == NULL || in_path == NULL || out_path == NULL)
        return MG_E_INVALID;
    struct mg_conversion *c = cv_conversion_new();
    if (c == NULL)
        return MG_E_NOMEM;
    *out = c;
    struct mg_scanner *sc = NULL;
    char *dst = NULL, *dir = NULL, *tmp = NULL;
    struct cv_model m;
    cv_model_init(&m, NULL, c, NULL);
    enum mg_status st = mg_scanner_new(&o->scan, &sc);
    if (st == MG_OK) {
        dst = output_path(in_path, out_path);
        dir = dst ? cv_dir_of(dst) : NULL;
        if (dir == NULL)
            st = MG_E_NOMEM;
    }
    if (st == MG_OK)
        st = cv_convert_path(c, sc, in_path, dir, base_of(dst), o->force, &m,
                             &tmp);
    if (st == MG_OK && rename(tmp, dst) != 0)
        st = cv_refuse(c, MG_E_IO, "renaming to %s: %s", dst, strerror(errno));
    if (st == MG_OK) {
        sync_dir(dir);
        c->tensors = m.nwritten;
        c->aliases = m.naliases;
        c->data_bytes = m.data_bytes;
        st = cv_add_output(c, dst);
    } else if (tmp != NULL) {
        unlink(tmp);
    }
    if (st == MG_E_NOMEM)
        cv_refuse(c, st, "out of memory");
    mg_free(tmp);
    cv_model_fini(&m);
    mg_free(dst);
    mg_free(dir);
    mg_scanner_free(sc);
    return cv_finish(c, st);
}
