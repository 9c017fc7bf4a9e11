#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "modelgate/mg_sign.h"

#define CACHE_FORMAT      1    /* of the tables and the findings blob */
#define COMMIT_EVERY      1000 /* stores between commits */
#define MAX_FINDINGS_BLOB (64u << 20)

struct cache {
    sqlite3 *db;
    sqlite3_stmt *get_file, *put_file, *get_result, *put_result;
    pthread_mutex_t mu;
    uint8_t config[32];
    unsigned pending;
    int broken; /* a write failed: stop using the cache */
};

static const char schema_sql[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    /* a 100k-file cache is some 30 MB: keep its pages in memory */
    "PRAGMA cache_size=-131072;"
    "PRAGMA mmap_size=1073741824;"
    "PRAGMA temp_store=MEMORY;"
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS files(dev INTEGER, ino INTEGER, size "
    "INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, sha256 BLOB, PRIMARY "
    "KEY(dev, ino));"
    "CREATE TABLE IF NOT EXISTS results(sha256 BLOB, config BLOB, format "
    "TEXT, complete INTEGER, max_sev INTEGER, bytes_read INTEGER, findings "
    "BLOB, PRIMARY KEY(sha256, config));";

static int64_t
ns(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size && ns(&a->st_mtim) == ns(&b->st_mtim) &&
           ns(&a->st_ctim) == ns(&b->st_ctim);
}

static void
config_digest(const struct mg_options *opt, uint8_t out[32])
{
    const struct mg_limits *l = &opt->limits;
    char text[1024];
    snprintf(
        text, sizeof(text),
        "modelgate-cache %d\nversion %s\njson-schema %d\npolicy %016" PRIx64
        "\ninfo %d\nlimits %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
        " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
        " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
        "\n",
        CACHE_FORMAT, MG_VERSION_STRING, MG_JSON_SCHEMA_VERSION,
        mg_policy_fingerprint(opt->policy), opt->report_info, l->max_opcodes,
        l->max_stack, l->max_memo, l->max_string, l->max_values,
        l->max_value_depth, l->max_findings, l->max_streams, l->max_depth,
        l->max_members, l->max_member_bytes, l->max_total_bytes, l->max_ratio,
        l->max_header_bytes, l->max_json_depth, l->max_seconds);
    mg_sha256_buffer(text, strlen(text), out);
}

int
cache_open(const char *path, const struct mg_options *opt, struct cache **out)
{
    *out = NULL;
    /* Create it private: its contents decide what is called safe. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "modelgate scan: --cache %s: %s\n", path,
                strerror(errno));
        return 2;
    }
    close(fd);
    struct cache *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fprintf(stderr, "modelgate scan: out of memory\n");
        return 2;
    }
    pthread_mutex_init(&c->mu, NULL);
    config_digest(opt, c->config);
    int rc = sqlite3_open_v2(path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(c->db, 10000);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, schema_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->db,
                                "SELECT size, mtime_ns, ctime_ns, sha256 FROM "
                                "files WHERE dev=? AND ino=?",
                                -1, &c->get_file, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            c->db, "INSERT OR REPLACE INTO files VALUES(?,?,?,?,?,?)", -1,
            &c->put_file, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(c->db,
                                "SELECT format, complete, max_sev, "
                                "bytes_read, findings FROM results WHERE "
                                "sha256=? AND config=?",
                                -1, &c->get_result, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            c->db, "INSERT OR REPLACE INTO results VALUES(?,?,?,?,?,?,?)", -1,
            &c->put_result, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "modelgate scan: --cache %s: %s\n", path,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        c->broken = 2; /* said already */
        cache_close(c);
        return 2;
    }
    *out = c;
    return 0;
}

/* ---- the findings blob: count, then per finding severity, has_offset,
   offset, count and six length-prefixed strings (0xffffffff: NULL) ---- */

struct blob {
    uint8_t *p;
    size_t n, cap;
    int bad;
};

static void
put(struct blob *b, const void *p, size_t n)
{
    if (b->bad)
        return;
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 1024;
        while (nc < b->n + n)
            nc *= 2;
        uint8_t *np = nc <= MAX_FINDINGS_BLOB ? realloc(b->p, nc) : NULL;
        if (np == NULL) {
            b->bad = 1;
            return;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
put_u64(struct blob *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, 8);
}

static void
put_u32(struct blob *b, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, 4);
}

static void
put_str(struct blob *b, const char *s)
{
    if (s == NULL) {
        put_u32(b, UINT32_MAX);
        return;
    }
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

struct reader {
    const uint8_t *p;
    size_t n, pos;
    int bad;
};

static uint64_t
get_u(struct reader *r, unsigned bytes)
{
    if (r->bad || bytes > r->n - r->pos) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->pos + i] << (8 * i);
    r->pos += bytes;
    return v;
}

/* A copy of the next string, "" marks NULL via *isnull. */
static char *
get_str(struct reader *r, int *isnull)
{
    uint32_t n = (uint32_t)get_u(r, 4);
    *isnull = 0;
    if (r->bad)
        return NULL;
    if (n == UINT32_MAX) {
        *isnull = 1;
        return NULL;
    }
    if (n > r->n - r->pos || memchr(r->p + r->pos, 0, n) != NULL) {
        r->bad = 1;
        return NULL;
    }
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        r->bad = 1;
        return NULL;
    }
    memcpy(s, r->p + r->pos, n);
    s[n] = '\0';
    r->pos += n;
    return s;
}

static void
free_findings(struct mg_finding *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)f[i].rule);
        free((char *)f[i].message);
        free((char *)f[i].layer);
        free((char *)f[i].module);
        free((char *)f[i].name);
        free((char *)f[i].indicator);
    }
    free(f);
}

/* The findings in a blob; -1 when it is not a valid one. */
static int
decode(const void *blob, size_t len, struct mg_finding **out, size_t *nout)
{
    struct reader r = {blob, len, 0, 0};
    uint64_t n = get_u(&r, 4);
    /* each finding takes at least 42 bytes */
    if (r.bad || n > len / 42) {
        return -1;
    }
    struct mg_finding *f = calloc(n ? (size_t)n : 1, sizeof(*f));
    if (f == NULL)
        return -1;
    size_t i = 0;
    for (; i < n && !r.bad; i++) {
        struct mg_finding *x = &f[i];
        uint64_t sev = get_u(&r, 1);
        x->has_offset = (int)get_u(&r, 1);
        x->offset = get_u(&r, 8);
        x->count = get_u(&r, 8);
        int isnull[6];
        char *s[6];
        for (int k = 0; k < 6; k++)
            s[k] = get_str(&r, &isnull[k]);
        x->rule = s[0];
        x->message = s[1];
        x->layer = s[2];
        x->module = s[3];
        x->name = s[4];
        x->indicator = s[5];
        if (sev > MG_SEV_DANGEROUS || isnull[0] || isnull[1])
            r.bad = 1;
        x->severity = (enum mg_severity)sev;
    }
    if (r.bad || r.pos != len) {
        free_findings(f, i);
        return -1;
    }
    *out = f;
    *nout = (size_t)n;
    return 0;
}

static int
cacheable(const struct mg_report *r)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (strcmp(f->rule, "io-error") == 0 ||
            (strcmp(f->rule, "limit") == 0 && f->name != NULL &&
             strcmp(f->name, "max-seconds") == 0))
            return 0;
    }
    return 1;
}

static void
put_file_row(struct cache *c, const struct cache_key *k)
{
    sqlite3_stmt *s = c->put_file;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)k->st.st_dev);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)k->st.st_ino);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)k->st.st_size);
    sqlite3_bind_int64(s, 4, ns(&k->st.st_mtim));
    sqlite3_bind_int64(s, 5, ns(&k->st.st_ctim));
    sqlite3_bind_blob(s, 6, k->sha, 32, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_DONE)
        c->broken = 1;
    sqlite3_reset(s);
}

static void
maybe_commit(struct cache *c)
{
    if (++c->pending < COMMIT_EVERY)
        return;
    c->pending = 0;
    if (sqlite3_exec(c->db, "COMMIT; BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        c->broken = 1;
}

int
cache_lookup(struct cache *c,
             const char *path,
             struct cache_key *k,
             struct mg_report **out)
{
    *out = NULL;
    memset(k, 0, sizeof(*k));
    if (stat(path, &k->st) != 0 || !S_ISREG(k->st.st_mode))
        return 0;
    int known = 0;
    pthread_mutex_lock(&c->mu);
    if (!c->broken) {
        sqlite3_stmt *s = c->get_file;
        sqlite3_bind_int64(s, 1, (sqlite3_int64)k->st.st_dev);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)k->st.st_ino);
        if (sqlite3_step(s) == SQLITE_ROW &&
            sqlite3_column_int64(s, 0) == (sqlite3_int64)k->st.st_size &&
            sqlite3_column_int64(s, 1) == ns(&k->st.st_mtim) &&
            sqlite3_column_int64(s, 2) == ns(&k->st.st_ctim) &&
            sqlite3_column_bytes(s, 3) == 32) {
            memcpy(k->sha, sqlite3_column_blob(s, 3), 32);
            known = 1;
        }
        sqlite3_reset(s);
    }
    int broken = c->broken;
    pthread_mutex_unlock(&c->mu);
    if (broken)
        return 0;
    if (!known) {
        struct stat after;
        if (mg_sha256_file(path, k->sha, NULL) != MG_OK ||
            stat(path, &after) != 0 || !same_file(&k->st, &after))
            return 0; /* unreadable or changing: scan it, store nothing */
    }
    k->have_sha = 1;
    struct mg_finding *f = NULL;
    size_t n = 0;
    char *format = NULL;
    int complete = 0, hit = 0;
    int64_t maxsev = 0, bytes_read = 0;
    pthread_mutex_lock(&c->mu);
    sqlite3_stmt *s = c->get_result;
    sqlite3_bind_blob(s, 1, k->sha, 32, SQLITE_STATIC);
    sqlite3_bind_blob(s, 2, c->config, 32, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *fmt = sqlite3_column_text(s, 0);
        complete = sqlite3_column_int(s, 1);
        maxsev = sqlite3_column_int64(s, 2);
        bytes_read = sqlite3_column_int64(s, 3);
        const void *blob = sqlite3_column_blob(s, 4);
        size_t blen = (size_t)sqlite3_column_bytes(s, 4);
        format = fmt ? strdup((const char *)fmt) : NULL;
        hit = format != NULL && maxsev >= 0 && maxsev <= MG_SEV_DANGEROUS &&
              bytes_read >= 0 &&
              decode(blob ? blob : "", blob ? blen : 0, &f, &n) == 0;
    }
    sqlite3_reset(s);
    if (hit && !known)
        put_file_row(c, k); /* next time, no need to hash */
    pthread_mutex_unlock(&c->mu);
    if (hit &&
        mg_report_restore(path, format, complete, (enum mg_severity)maxsev,
                          (uint64_t)k->st.st_size, (uint64_t)bytes_read, f, n,
                          out) != MG_OK)
        hit = 0;
    if (hit)
        free_findings(f, n);
    free(format);
    return hit;
}

void
cache_store(struct cache *c,
            const char *path,
            const struct cache_key *k,
            const struct mg_report *r)
{
    struct stat after;
    if (!k->have_sha || !cacheable(r) || stat(path, &after) != 0 ||
        !same_file(&k->st, &after))
        return;
    struct blob b = {0};
    size_t n = mg_report_count(r);
    put_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        uint8_t sev = (uint8_t)f->severity, has = (uint8_t)(f->has_offset != 0);
        put(&b, &sev, 1);
        put(&b, &has, 1);
        put_u64(&b, f->offset);
        put_u64(&b, f->count);
        put_str(&b, f->rule);
        put_str(&b, f->message);
        put_str(&b, f->layer);
        put_str(&b, f->module);
        put_str(&b, f->name);
        put_str(&b, f->indicator);
    }
    if (b.bad) {
        free(b.p);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (!c->broken) {
        sqlite3_stmt *s = c->put_result;
        sqlite3_bind_blob(s, 1, k->sha, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 2, c->config, 32, SQLITE_STATIC);
        sqlite3_bind_text(s, 3, mg_report_format(r), -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 4, mg_report_complete(r));
        sqlite3_bind_int(s, 5, (int)mg_report_max_severity(r));
        sqlite3_bind_int64(s, 6, (sqlite3_int64)mg_report_bytes_read(r));
        sqlite3_bind_blob(s, 7, b.p ? (const void *)b.p : "", (int)b.n,
                          SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_DONE)
            c->broken = 1;
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        put_file_row(c, k);
        maybe_commit(c);
    }
    pthread_mutex_unlock(&c->mu);
    free(b.p);
}

int
cache_close(struct cache *c)
{
    if (c == NULL)
        return 0;
    int rc = 0;
    if (c->db != NULL && !c->broken &&
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fprintf(stderr, "modelgate scan: --cache: %s\n", sqlite3_errmsg(c->db));
        rc = 2;
    } else if (c->broken == 1 && c->db != NULL) {
        fprintf(stderr, "modelgate scan: --cache: %s (results not saved)\n",
                sqlite3_errmsg(c->db));
        rc = 2;
    }
    sqlite3_finalize(c->get_file);
    sqlite3_finalize(c->put_file);
    sqlite3_finalize(c->get_result);
    sqlite3_finalize(c->put_result);
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    free(c);
    return rc;
}
