/*
 * torch.h - facts of PyTorch's serialization shared by the scan (the ZIP
 * layout in zip.c, the legacy layout in legacy.c) and modelgate convert:
 * storage types, the legacy magic number, persistent ids and the legacy
 * storage records. Facts from torch/serialization.py and torch/storage.py.
 */
#ifndef MG_FORMATS_TORCH_H
#define MG_FORMATS_TORCH_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "io/stream.h"
#include "pickle/value.h"
#include "pickle/vm.h"

/* A storage class named in a persistent id ("FloatStorage"). */
struct mg_torch_storage_type {
    const char *name;
    unsigned elsize;   /* bytes per element */
    const char *dtype; /* the safetensors dtype, NULL when there is none
                          (complex128, quantized types) */
};

/* The storage type called name (any module: torch.load's find_class maps
   every "*Storage" name the same way), NULL when unknown. */
const struct mg_torch_storage_type *mg_torch_storage_type(const char *name);

/*
 * Length of the literal magic-number pickle that starts a legacy file
 * (PROTO? FRAME? the magic long, BINPUT/MEMOIZE?, STOP), 0 when h does not
 * start with it.
 */
size_t mg_torch_legacy_magic_len(const uint8_t *h, size_t n);

/* A persistent id ('storage', type, key, location, numel[, view]). */
struct mg_torch_pid {
    const struct mg_val *items; /* the tuple's items */
    uint32_t n;                 /* how many */
    const struct mg_str *key;   /* exact */
    const struct mg_glob *type; /* NULL when items[1] is not a global */
};

/* 1 when pid is a tuple ('storage', type, key, ...) whose key is an exact
   string; out then describes it. */
int mg_torch_pid_parse(const struct mg_val *pid, struct mg_torch_pid *out);

/* The same for a pickle event: 1 when ev is persistent_load(pid) of such
   a tuple. */
int mg_torch_pid_event(const struct mg_pevent *ev, struct mg_torch_pid *out);

/* The storages that persistent ids name: each key once, in the order
   first seen, with the element size of its type (0: unknown). Zeroed
   when empty. */
struct mg_torch_storage {
    char *key;
    unsigned elsize;
};
struct mg_torch_storages {
    struct mg_torch_storage *v;
    size_t n, cap;
};

/* Add the key (n bytes) unless it is there already or max keys are held
   (MG_OK either way, nothing added); MG_E_NOMEM. */
enum mg_status mg_torch_storages_add(struct mg_torch_storages *s,
                                     const char *key,
                                     size_t n,
                                     unsigned elsize,
                                     uint64_t max);
void mg_torch_storages_free(struct mg_torch_storages *s);

/*
 * One raw storage record of a legacy file at the stream's position: an
 * 8-byte little-endian element count, then count x elsize bytes, which
 * are skipped. *count and *data_off (stream offset of the bytes) are set.
 * MG_E_TRUNCATED when the stream ends first, MG_E_LIMIT when count x
 * elsize overflows.
 */
enum mg_status mg_torch_legacy_storage(struct mg_stream *s,
                                       unsigned elsize,
                                       uint64_t *count,
                                       uint64_t *data_off);

#endif
