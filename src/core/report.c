#include "core/report.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "io/ckd.h"

struct mg_report {
    char *path;
    char *format;
    int complete;
    enum mg_severity maxsev;
    struct mg_finding *f;
    uint64_t *hash;
    size_t n, cap;
    uint32_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t nslots;
    uint64_t max_findings;
    uint64_t dropped;
    uint64_t file_size, bytes_read;
};

static const char *const sev_names[] = {"info", "unknown", "suspicious",
                                        "dangerous"};
static const char *const verdict_names[] = {"safe", "unknown", "suspicious",
                                            "dangerous", "error"};

const char *
mg_severity_name(enum mg_severity s)
{
    return (unsigned)s < 4 ? sev_names[s] : "?";
}

const char *
mg_verdict_name(enum mg_verdict v)
{
    return (unsigned)v < 5 ? verdict_names[v] : "?";
}

struct mg_report *
mg_report_new(const char *path, uint64_t max_findings)
{
    struct mg_report *r = mg_calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->path = mg_strdup(path ? path : "-");
    if (r->path == NULL) {
        mg_free(r);
        return NULL;
    }
    r->complete = 1;
    r->maxsev = MG_SEV_INFO;
    r->max_findings = max_findings;
    return r;
}

void
mg_report_free(struct mg_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        mg_free((void *)r->f[i].rule); /* one block per finding */
    mg_free(r->f);
    mg_free(r->hash);
    mg_free(r->slots);
    mg_free(r->path);
    mg_free(r->format);
    mg_free(r);
}

static uint64_t
fnv(uint64_t h, const char *s)
{
    if (s == NULL) {
        h ^= 0xff;
        return h * 0x100000001b3ULL;
    }
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    h ^= 0xfe;
    return h * 0x100000001b3ULL;
}

static int
same(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static int
equal(const struct mg_finding *x,
      const char *layer,
      const struct mg_finding_in *f)
{
    return x->severity == f->sev && same(x->rule, f->rule) &&
           same(x->message, f->message) && same(x->layer, layer) &&
           same(x->module, f->module) && same(x->name, f->name) &&
           same(x->indicator, f->indicator);
}

static enum mg_status
grow_slots(struct mg_report *r)
{
    size_t ns = r->nslots ? r->nslots * 2 : 64;
    uint32_t *s = mg_calloc(ns, sizeof(*s));
    if (s == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < r->n; i++) {
        size_t j = (size_t)r->hash[i] & (ns - 1);
        while (s[j] != 0)
            j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    mg_free(r->slots);
    r->slots = s;
    r->nslots = ns;
    return MG_OK;
}

/* Copy the strings of a finding into one block. */
static enum mg_status
store(struct mg_finding *d, const char *layer, const struct mg_finding_in *f)
{
    const char *src[6] = {f->rule ? f->rule : "",
                          f->message ? f->message : "",
                          layer,
                          f->module,
                          f->name,
                          f->indicator};
    size_t len[6], total = 0;
    for (int i = 0; i < 6; i++) {
        len[i] = src[i] ? strlen(src[i]) + 1 : 0;
        if (ckd_add_size(&total, total, len[i]))
            return MG_E_NOMEM;
    }
    char *blk = mg_malloc(total);
    if (blk == NULL)
        return MG_E_NOMEM;
    const char *dst[6];
    char *p = blk;
    for (int i = 0; i < 6; i++) {
        if (src[i] == NULL) {
            dst[i] = NULL;
            continue;
        }
        memcpy(p, src[i], len[i]);
        dst[i] = p;
        p += len[i];
    }
    d->severity = f->sev;
    d->rule = dst[0];
    d->message = dst[1];
    d->layer = dst[2];
    d->module = dst[3];
    d->name = dst[4];
    d->indicator = dst[5];
    d->offset = f->offset;
    d->has_offset = f->has_offset;
    d->count = 1;
    return MG_OK;
}

enum mg_status
mg_report_add(struct mg_report *r,
              const char *layer,
              const struct mg_finding_in *f)
{
    if (f->sev > r->maxsev)
        r->maxsev = f->sev;
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)f->sev;
    h = fnv(h, f->rule);
    h = fnv(h, f->message);
    h = fnv(h, layer);
    h = fnv(h, f->module);
    h = fnv(h, f->name);
    h = fnv(h, f->indicator);
    if (r->nslots) {
        size_t j = (size_t)h & (r->nslots - 1);
        while (r->slots[j] != 0) {
            size_t i = r->slots[j] - 1;
            if (r->hash[i] == h && equal(&r->f[i], layer, f)) {
                r->f[i].count++;
                return MG_OK;
            }
            j = (j + 1) & (r->nslots - 1);
        }
    }
    if (r->n >= r->max_findings) {
        r->dropped++;
        return MG_OK;
    }
    if ((r->n + 1) * 2 > r->nslots) {
        enum mg_status st = grow_slots(r);
        if (st != MG_OK)
            return st;
    }
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        struct mg_finding *nf = mg_reallocarray(r->f, nc, sizeof(*nf));
        if (nf == NULL)
            return MG_E_NOMEM;
        r->f = nf;
        uint64_t *nh = mg_reallocarray(r->hash, nc, sizeof(*nh));
        if (nh == NULL)
            return MG_E_NOMEM;
        r->hash = nh;
        r->cap = nc;
    }
    enum mg_status st = store(&r->f[r->n], layer, f);
    if (st != MG_OK)
        return st;
    r->hash[r->n] = h;
    size_t j = (size_t)h & (r->nslots - 1);
    while (r->slots[j] != 0)
        j = (j + 1) & (r->nslots - 1);
    r->slots[j] = (uint32_t)(r->n + 1);
    r->n++;
    return MG_OK;
}

enum mg_status
mg_report_finish(struct mg_report *r)
{
    if (r->dropped == 0)
        return MG_OK;
    char msg[128];
    snprintf(msg, sizeof(msg),
             "%llu further distinct findings were not stored (max-findings)",
             (unsigned long long)r->dropped);
    struct mg_finding_in f = {
        .sev = MG_SEV_INFO, .rule = "findings-truncated", .message = msg};
    r->max_findings = r->n + 1;
    return mg_report_add(r, NULL, &f);
}

void
mg_report_set_incomplete(struct mg_report *r)
{
    r->complete = 0;
}

void
mg_report_set_format(struct mg_report *r, const char *format)
{
    if (r->format != NULL || format == NULL)
        return;
    r->format = mg_strdup(format);
}

void
mg_report_replace_format(struct mg_report *r, const char *format)
{
    char *f = mg_strdup(format);
    if (f == NULL)
        return; /* keeps the less precise name */
    mg_free(r->format);
    r->format = f;
}

void
mg_report_set_sizes(struct mg_report *r,
                    uint64_t file_size,
                    uint64_t bytes_read)
{
    r->file_size = file_size;
    r->bytes_read = bytes_read;
}

const char *
mg_report_path(const struct mg_report *r)
{
    return r->path;
}

enum mg_severity
mg_report_max_severity(const struct mg_report *r)
{
    return r->maxsev;
}

int
mg_report_complete(const struct mg_report *r)
{
    return r->complete;
}

enum mg_verdict
mg_report_verdict(const struct mg_report *r)
{
    if (r->maxsev >= MG_SEV_SUSPICIOUS)
        return (enum mg_verdict)r->maxsev;
    if (!r->complete)
        return MG_VERDICT_ERROR;
    return r->maxsev == MG_SEV_UNKNOWN ? MG_VERDICT_UNKNOWN : MG_VERDICT_SAFE;
}

const char *
mg_report_format(const struct mg_report *r)
{
    return r->format ? r->format : "unknown";
}

uint64_t
mg_report_bytes_read(const struct mg_report *r)
{
    return r->bytes_read;
}

uint64_t
mg_report_file_size(const struct mg_report *r)
{
    return r->file_size;
}

size_t
mg_report_count(const struct mg_report *r)
{
    return r->n;
}

const struct mg_finding *
mg_report_get(const struct mg_report *r, size_t i)
{
    return i < r->n ? &r->f[i] : NULL;
}

enum mg_status
mg_report_restore(const char *path,
                  const char *format,
                  int complete,
                  enum mg_severity max_severity,
                  uint64_t file_size,
                  uint64_t bytes_read,
                  const struct mg_finding *findings,
                  size_t n,
                  struct mg_report **out)
{
    if (out == NULL || (findings == NULL && n > 0) ||
        (unsigned)max_severity > MG_SEV_DANGEROUS)
        return MG_E_INVALID;
    *out = NULL;
    struct mg_report *r = mg_report_new(path, n > 0 ? n : 1);
    if (r == NULL)
        return MG_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *x = &findings[i];
        if ((unsigned)x->severity > MG_SEV_DANGEROUS || x->rule == NULL ||
            x->message == NULL) {
            mg_report_free(r);
            return MG_E_INVALID;
        }
        struct mg_finding_in f = {.sev = x->severity,
                                  .rule = x->rule,
                                  .message = x->message,
                                  .offset = x->offset,
                                  .has_offset = x->has_offset,
                                  .module = x->module,
                                  .name = x->name,
                                  .indicator = x->indicator};
        size_t before = r->n;
        if (mg_report_add(r, x->layer, &f) != MG_OK) {
            mg_report_free(r);
            return MG_E_NOMEM;
        }
        if (r->n > before)
            r->f[before].count = x->count > 0 ? x->count : 1;
    }
    if (max_severity > r->maxsev)
        r->maxsev = max_severity;
    if (!complete)
        r->complete = 0;
    if (format != NULL) {
        r->format = mg_strdup(format);
        if (r->format == NULL) {
            mg_report_free(r);
            return MG_E_NOMEM;
        }
    }
    r->file_size = file_size;
    r->bytes_read = bytes_read;
    *out = r;
    return MG_OK;
}
