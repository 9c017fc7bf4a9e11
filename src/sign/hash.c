/*
 * hash.c - file digests, in parallel: one thread per file at a time
 * (SHA-256 of one file is sequential), largest files first so the last
 * thread does not finish alone on a big one; big sequential reads into a
 * per-thread buffer, with the kernel told to read ahead.
 *
 * A file is opened without following a final symbolic link (unless the
 * walk allowed one) and must be the same inode the walk saw: a file
 * swapped between the walk and the hashing is reported, never hashed in
 * place of the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/alloc.h"
#include "sign/sign_int.h"

struct hash_job {
    struct sig_entry **work; /* entries to hash, largest first */
    size_t n;
    size_t next;
    pthread_mutex_t mu;
    const EVP_MD *md;
    int failed; /* a thread could not allocate its buffer or context */
};

size_t
sig_hash_size(const char *algorithm)
{
    if (strcmp(algorithm, "sha256") == 0)
        return 32;
    if (strcmp(algorithm, "blake2b") == 0)
        return 64;
    return 0;
}

void
sig_sha256(const void *buf, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    if (EVP_Digest(buf, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32); /* cannot happen with the default provider */
}

/* Digest what fd holds from its current position: 0 or an errno. */
static int
digest_fd(int fd,
          EVP_MD_CTX *ctx,
          const EVP_MD *md,
          uint8_t *buf,
          size_t bufsize,
          uint8_t *out,
          unsigned int *dlen,
          uint64_t *total)
{
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (EVP_DigestInit_ex2(ctx, md, NULL) != 1)
        return ENOMEM;
    *total = 0;
    for (;;) {
        ssize_t k = read(fd, buf, bufsize);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return errno;
        if (k == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)k) != 1)
            return ENOMEM;
        *total += (uint64_t)k;
    }
    if (EVP_DigestFinal_ex(ctx, out, dlen) != 1)
        return ENOMEM;
    return 0;
}

static void
hash_one(struct sig_entry *e,
         EVP_MD_CTX *ctx,
         const EVP_MD *md,
         uint8_t *buf,
         size_t bufsize)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (!e->via_symlink)
        flags |= O_NOFOLLOW;
    int fd = open(e->path, flags);
    if (fd < 0) {
        if (errno == ELOOP)
            e->swapped = 1; /* a link now stands where a file was */
        else
            e->err = errno;
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        e->err = errno;
        close(fd);
        return;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_dev != e->dev || sb.st_ino != e->ino) {
        e->swapped = 1;
        close(fd);
        return;
    }
    unsigned int dlen = 0;
    uint64_t total = 0;
    int err = digest_fd(fd, ctx, md, buf, bufsize, e->digest, &dlen, &total);
    close(fd);
    if (err != 0) {
        e->err = err;
        return;
    }
    e->dlen = dlen;
    e->bytes = total;
    e->done = 1;
}

static void *
hash_worker(void *arg)
{
    struct hash_job *j = arg;
    uint8_t *buf = mg_malloc(MG_SIG_HASH_BUFFER);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (buf == NULL || ctx == NULL) {
        pthread_mutex_lock(&j->mu);
        j->failed = 1;
        pthread_mutex_unlock(&j->mu);
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next < j->n ? j->next++ : SIZE_MAX;
        pthread_mutex_unlock(&j->mu);
        if (i == SIZE_MAX)
            break;
        hash_one(j->work[i], ctx, j->md, buf, MG_SIG_HASH_BUFFER);
    }
out:
    EVP_MD_CTX_free(ctx);
    mg_free(buf);
    return NULL;
}

static int
by_size_desc(const void *a, const void *b)
{
    const struct sig_entry *x = *(struct sig_entry *const *)a;
    const struct sig_entry *y = *(struct sig_entry *const *)b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static double
now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

enum mg_status
sig_hash_entries(struct sig_model *m,
                 const char *algorithm,
                 unsigned jobs,
                 double *seconds)
{
    *seconds = 0;
    const EVP_MD *md = strcmp(algorithm, "sha256") == 0    ? EVP_sha256()
                       : strcmp(algorithm, "blake2b") == 0 ? EVP_blake2b512()
                                                           : NULL;
    if (md == NULL)
        return MG_E_UNSUPPORTED;
    struct hash_job j;
    memset(&j, 0, sizeof(j));
    j.md = md;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].want)
            j.n++;
    if (j.n == 0)
        return MG_OK;
    j.work = mg_calloc(j.n, sizeof(*j.work));
    if (j.work == NULL)
        return MG_E_NOMEM;
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].want)
            j.work[k++] = &m->v[i];
    qsort(j.work, j.n, sizeof(*j.work), by_size_desc);

    if (jobs == 0)
        jobs = 1;
    if (jobs > MG_SIG_MAX_JOBS)
        jobs = MG_SIG_MAX_JOBS;
    size_t nthreads = jobs < j.n ? jobs : j.n;
    pthread_t th[MG_SIG_MAX_JOBS];
    size_t started = 0;
    double t0 = now_seconds();
    pthread_mutex_init(&j.mu, NULL);
    /* The calling thread works too: nthreads - 1 more. */
    for (size_t i = 1; i < nthreads; i++) {
        if (pthread_create(&th[started], NULL, hash_worker, &j) != 0)
            break;
        started++;
    }
    hash_worker(&j);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&j.mu);
    *seconds = now_seconds() - t0;
    mg_free(j.work);
    /* Every thread may have failed to get its buffer: then some entries
       were never hashed. */
    if (j.failed)
        for (size_t i = 0; i < m->n; i++)
            if (m->v[i].want && !m->v[i].done && !m->v[i].err &&
                !m->v[i].swapped)
                return MG_E_NOMEM;
    return MG_OK;
}

void
mg_sha256_buffer(const void *buf, size_t n, uint8_t out[32])
{
    sig_sha256(buf, n, out);
}

enum mg_status
mg_sha256_file(const char *path, uint8_t out[32], uint64_t *size)
{
    enum {
        BUFSIZE = 1 << 20
    };
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return MG_E_IO;
    uint8_t *buf = mg_malloc(BUFSIZE);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    enum mg_status st = MG_E_NOMEM;
    if (buf != NULL && ctx != NULL) {
        unsigned int dlen = 0;
        uint64_t total = 0;
        int err =
            digest_fd(fd, ctx, EVP_sha256(), buf, BUFSIZE, out, &dlen, &total);
        st = err == 0 ? MG_OK : err == ENOMEM ? MG_E_NOMEM : MG_E_IO;
        if (size != NULL)
            *size = total;
        if (err != 0 && err != ENOMEM)
            errno = err;
    }
    EVP_MD_CTX_free(ctx);
    mg_free(buf);
    close(fd);
    return st;
}
