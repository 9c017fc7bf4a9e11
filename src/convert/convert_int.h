/*
 * convert_int.h - internals of modelgate convert (docs/convert.md):
 *
 *   source.c   reads the checkpoint (PyTorch ZIP or legacy): runs the
 *              symbolic pickle machine, finds every storage's bytes
 *   rebuild.c  what the machine may see (the accepted imports and calls)
 *              and the flattening of its result into named tensors
 *   write.c    the safetensors layout (dedup, order, header) and the
 *              tensor bytes, views materialised
 *   convert.c  the public API: scan first, temporary file, rename
 *   shard.c    sharded checkpoints and their index
 */
#ifndef MG_CONVERT_INT_H
#define MG_CONVERT_INT_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/input.h"
#include "formats/zip/zip.h"
#include "modelgate/mg_convert.h"
#include "pickle/vm.h"

/* ------------------------------------------------------------------ */
/* the result object */

struct mg_conversion {
    enum mg_convert_result result;
    char reason[1024]; /* the first reason given */
    char **notes;
    size_t nnotes, capnotes;
    uint64_t notes_dropped;
    struct mg_report **reports;
    size_t nreports, capreports;
    char **outputs;
    size_t noutputs, capoutputs;
    size_t tensors, aliases;
    uint64_t data_bytes;
    const char *prefix; /* put before notes and reasons (a shard's name) */
};

/* Record why the conversion stops (the first reason wins) and return st,
   the status that says what kind of stop it is: MG_E_IO and MG_E_NOMEM
   are failures, anything else a refusal. */
__attribute__((format(printf, 3, 4))) enum mg_status
cv_refuse(struct mg_conversion *c, enum mg_status st, const char *fmt, ...);
/* A note (kept up to MG_CONVERT_MAX_NOTES, then counted). MG_E_NOMEM
   only. */
__attribute__((format(printf, 2, 3))) enum mg_status
cv_note(struct mg_conversion *c, const char *fmt, ...);

/* Room for element n of an array of *cap elements of size bytes: the
   array itself, or a new one when it was full (capacity doubled, first
   when empty); NULL on failure, v then unchanged. */
void *cv_reserve(void *v, size_t n, size_t *cap, size_t size, size_t first);

/* ------------------------------------------------------------------ */
/* dtypes: safetensors' names, in the order of its Dtype enum (increasing
   alignment; the reference writer lays tensors out in decreasing order) */

enum cv_dt {
    DT_BOOL = 0,
    DT_F4,
    DT_U8,
    DT_I8,
    DT_F8_E5M2,
    DT_F8_E4M3,
    DT_F8_E8M0,
    DT_F8_E4M3FNUZ,
    DT_F8_E5M2FNUZ,
    DT_I16,
    DT_U16,
    DT_F16,
    DT_BF16,
    DT_I32,
    DT_U32,
    DT_F32,
    DT_C64,
    DT_F64,
    DT_I64,
    DT_U64,
    DT_COUNT
};

struct cv_dtype {
    const char *name; /* "F32" */
    unsigned size;    /* bytes per element */
    unsigned swap;    /* bytes per unit reversed for byte order */
    /* Two 4-bit elements per byte: torch (float4_e2m1fn_x2) counts the
       bytes, safetensors (F4) the elements, so the header's last
       dimension is twice torch's. */
    unsigned packed;
};

const struct cv_dtype *cv_dtype(enum cv_dt dt);
/* The safetensors dtype called name, -1 when none. */
int cv_dtype_by_name(const char *name);

/* ------------------------------------------------------------------ */
/* string -> index map (keys borrowed, they must outlive the map) */

struct cv_map_ent {
    const char *key; /* NULL: free slot */
    size_t len;
    uint64_t hash;
    size_t val;
};

struct cv_map {
    struct cv_map_ent *e;
    size_t cap, n;
};

int
cv_map_get(const struct cv_map *m, const char *key, size_t len, size_t *val);
enum mg_status
cv_map_put(struct cv_map *m, const char *key, size_t len, size_t val);
void cv_map_fini(struct cv_map *m);

/* ------------------------------------------------------------------ */
/* the checkpoint */

struct cv_storage {
    char *key;
    size_t key_len;
    enum cv_dt dt;     /* untyped storages: U8 */
    int untyped;       /* torch.UntypedStorage (its bytes have no type) */
    uint64_t nbytes;   /* numel of the persistent id x element size */
    uint64_t file_off; /* where the bytes are in the input (direct) */
    int direct;        /* file_off is valid: legacy, or a stored member */
    int located;       /* legacy: the key list placed it */
    long member;       /* ZIP: member index */
    uint8_t *mem;      /* ZIP deflated member, read whole when needed */
};

struct cv_tensor {
    char *name;
    size_t storage; /* index in cv_model.st */
    enum cv_dt dt;
    uint64_t off; /* byte offset of element 0 in the storage */
    unsigned ndim;
    uint64_t *shape; /* ndim sizes, then ndim strides (in elements) */
    uint64_t nbytes; /* numel x element size */
    uint64_t span;   /* storage bytes from off the view reaches */
    int contiguous;
    size_t alias;   /* SIZE_MAX: written; else the tensor written instead */
    uint64_t begin; /* data_offsets[0] */
};

struct cv_model {
    const struct mg_limits *lim;
    struct mg_conversion *res;
    struct mg_input *in;
    int fd; /* the input's file, for in-kernel copies; -1: none */
    struct mg_zip_reader *zip; /* NULL: legacy format */
    int pid_items;             /* items of a persistent id: 5 ZIP, 6 legacy */
    int big_endian;            /* the storages hold big-endian elements */
    int stop;                  /* the event callback refused something */
    /* values flattening has looked at: shared references make the tree
       far larger than the pickle (limit max-values) */
    uint64_t visits;

    struct cv_storage *st;
    size_t nst, capst;
    struct cv_map stmap;
    struct cv_tensor *t;
    size_t nt, capt;
    struct cv_map tmap;

    /* flattening: the name being built */
    char *name;
    size_t name_len, name_cap;

    /* layout (write.c) */
    size_t *order; /* tensors written, in file order */
    size_t nwritten;
    size_t naliases;
    char *header; /* JSON, padded with spaces to a multiple of 8 */
    size_t header_len;
    uint64_t data_bytes;
};

void cv_model_init(struct cv_model *m,
                   const struct mg_limits *lim,
                   struct mg_conversion *res,
                   struct mg_input *in);
void cv_model_fini(struct cv_model *m);

/* source.c: read the checkpoint in m->in into m's tensors and storages. */
enum mg_status cv_load(struct cv_model *m);
/* n bytes at off of a storage (off + n <= its nbytes). */
enum mg_status cv_storage_read(struct cv_model *m,
                               struct cv_storage *s,
                               uint64_t off,
                               void *buf,
                               size_t n);

/* rebuild.c */
/* The machine's event callback (user: the model): refuses every import,
   call and method outside the accepted set. */
enum mg_status
cv_on_event(void *user, struct mg_pvm *vm, const struct mg_pevent *ev);
/* Flatten the unpickled object into named tensors. */
enum mg_status cv_flatten(struct cv_model *m, const struct mg_val *root);

/* write.c */
/* Where the safetensors bytes go: a file descriptor, or memory (fuzzing
   and tests; at most cap bytes). */
struct cv_sink {
    int fd; /* -1: memory */
    uint8_t *mem;
    size_t len, cap;
};
/* Dedup identical tensors, order them, build the header. */
enum mg_status cv_plan(struct cv_model *m);
/* Header then tensor data, views materialised. */
enum mg_status cv_write(struct cv_model *m, struct cv_sink *out);

/* convert.c: the whole conversion of one opened input into a sink, for
   the API, the shards and the fuzz target (no scan: the caller decides).
   On return m holds the model (names for the shard index); free it with
   cv_model_fini. */
enum mg_status cv_convert_input(struct cv_model *m, struct cv_sink *out);

/* Open in_path, scan it (cv_scan_gate), convert it into a new temporary
   file in dir named for base: on MG_OK *tmp is that complete file (the
   caller renames or removes it) and m holds the model (names, sizes; its
   input is closed); free m with cv_model_fini in every case. */
struct mg_scanner;
enum mg_status cv_convert_path(struct mg_conversion *c,
                               struct mg_scanner *sc,
                               const char *in_path,
                               const char *dir,
                               const char *base,
                               int force,
                               struct cv_model *m,
                               char **tmp);

/* A new result, MG_CONVERT_FAILED until finished; NULL on failure. */
struct mg_conversion *cv_conversion_new(void);

/* Path helpers (convert.c). */
/* The folder part of a path (mg_malloc'd; "." when there is none). */
char *cv_dir_of(const char *path);
/* The Hugging Face converter's name for a converted file: the extension
   becomes ".safetensors", "pytorch_model" becomes "model". mg_malloc'd. */
char *cv_rename(const char *base);
/* A new temporary file in dir ("." when NULL) for final name base: its
   path in *tmp (mg_malloc'd) and an open descriptor. */
enum mg_status cv_tmp_open(struct mg_conversion *c,
                           const char *dir,
                           const char *base,
                           char **tmp,
                           int *fd);
/* fsync and close fd; then the file is complete. */
enum mg_status cv_tmp_finish(struct mg_conversion *c, int fd, const char *tmp);
/* Result bookkeeping. */
enum mg_status cv_add_output(struct mg_conversion *c, const char *path);
enum mg_status cv_add_report(struct mg_conversion *c, struct mg_report *r);
/* Scan an opened input and judge the verdict against force: MG_OK to go
   on, MG_E_UNSUPPORTED when refused (res->result set). */
struct mg_scanner;
enum mg_status cv_scan_gate(struct mg_conversion *c,
                            struct mg_scanner *sc,
                            struct mg_input *in,
                            const char *path,
                            int force);
/* Finish a result from the last status. */
enum mg_status cv_finish(struct mg_conversion *c, enum mg_status st);

#endif
