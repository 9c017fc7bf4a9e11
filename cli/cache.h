/*
 * cache.h - scan --cache FILE: a results cache in SQLite, so that a rescan
 * of an unchanged tree reads nothing but file metadata.
 *
 * Results are keyed by the SHA-256 of a file's content and by a
 * configuration digest (modelgate version, JSON schema version, policy
 * fingerprint, every limit, whether info findings are kept): a change of
 * any of them is a miss. To avoid hashing every file again, the digest of
 * a file is remembered with its device, inode, size, modification and
 * change times (nanoseconds); when all of them match, the file is taken
 * as unchanged without reading it (the change time cannot be set back by
 * a file's owner). Results that depend on more than the content (read
 * errors, the max-seconds limit) are never stored.
 */
#ifndef MG_CLI_CACHE_H
#define MG_CLI_CACHE_H

#include <stdint.h>
#include <sys/stat.h>

#include "modelgate/modelgate.h"

struct cache;

struct cache_key {
    struct stat st;
    uint8_t sha[32];
    int have_sha; /* st and sha describe the same content */
};

/* Open or create the cache (mode 0600). 0, or 2 after a message. */
int
cache_open(const char *path, const struct mg_options *opt, struct cache **out);
/* 1 and *out (a report for path) on a hit; 0 on a miss, with *k filled
   for cache_store. Thread-safe. */
int cache_lookup(struct cache *c,
                 const char *path,
                 struct cache_key *k,
                 struct mg_report **out);
/* Remember the report of a scan of path, if the file did not change
   since cache_lookup and the result depends only on its content. */
void cache_store(struct cache *c,
                 const char *path,
                 const struct cache_key *k,
                 const struct mg_report *r);
/* Commit and close; NULL is a no-op. 0, or 2 after a message. */
int cache_close(struct cache *c);

#endif
