/* Fuzz target: the converter (modelgate convert) without its scan, so
   that whatever the scan would refuse still reaches the reconstruction.
   The first byte picks how the rest is used:
     0  the input is the checkpoint itself (ZIP or legacy)
     1  the object pickle, storage-key pickle and storages of a legacy file
        (the magic number, version and sys_info are prepended)
     2  data.pkl of a PyTorch ZIP whose storages data/0..data/3 exist
     3  the bytes after a legacy object pickle holding one tensor
   A conversion that succeeds must produce a valid safetensors file: its
   header is JSON, the tensors cover the data area without gap or
   overlap, and every size agrees with its dtype and shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#include "convert/convert_int.h"
#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (8u << 20)

struct bytes {
    uint8_t *p;
    size_t n, cap;
};

static void
add(struct bytes *b, const void *p, size_t n)
{
    if (b->p == NULL || n > b->cap - b->n)
        return;
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void
le(struct bytes *b, uint64_t v, int n)
{
    uint8_t x[8];
    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    add(b, x, (size_t)n);
}

/* A stored ZIP of the given members (what torch.save writes). */
static void
build_zip(struct bytes *z,
          const char *const *names,
          const uint8_t *const *datas,
          const size_t *lens,
          size_t n)
{
    uint32_t offs[8];
    for (size_t i = 0; i < n; i++) {
        offs[i] = (uint32_t)z->n;
        uint32_t crc = (uint32_t)crc32(0, datas[i], (uInt)lens[i]);
        le(z, 0x04034b50, 4);
        le(z, 20, 2);
        le(z, 0, 2);
        le(z, 0, 2);
        le(z, 0, 4);
        le(z, crc, 4);
        le(z, lens[i], 4);
        le(z, lens[i], 4);
        le(z, strlen(names[i]), 2);
        le(z, 0, 2);
        add(z, names[i], strlen(names[i]));
        add(z, datas[i], lens[i]);
    }
    size_t cd = z->n;
    for (size_t i = 0; i < n; i++) {
        uint32_t crc = (uint32_t)crc32(0, datas[i], (uInt)lens[i]);
        le(z, 0x02014b50, 4);
        le(z, 20, 2);
        le(z, 20, 2);
        le(z, 0, 2);
        le(z, 0, 2);
        le(z, 0, 4);
        le(z, crc, 4);
        le(z, lens[i], 4);
        le(z, lens[i], 4);
        le(z, strlen(names[i]), 2);
        le(z, 0, 2);
        le(z, 0, 2);
        le(z, 0, 2);
        le(z, 0, 2);
        le(z, 0, 4);
        le(z, offs[i], 4);
        add(z, names[i], strlen(names[i]));
    }
    size_t cdlen = z->n - cd;
    le(z, 0x06054b50, 4);
    le(z, 0, 4);
    le(z, n, 2);
    le(z, n, 2);
    le(z, cdlen, 4);
    le(z, cd, 4);
    le(z, 0, 2);
}

static const uint8_t legacy_head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c,
                                      0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
                                      '.',  0x80, 0x02, 'M',  0xe9, 0x03, '.',
                                      0x80, 0x02, '}',  '.'};

/* {'w': _rebuild_tensor_v2(('storage', torch.FloatStorage, '0', 'cpu', 8,
   None), 0, (2, 4), (4, 1), False, OrderedDict())} */
static const char legacy_obj[] =
    "\x80\x02}(X\x01\x00\x00\x00w"
    "ctorch._utils\n_rebuild_tensor_v2\n"
    "((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
    "X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x08NtQ"
    "K\x00K\x02K\x04\x86K\x04K\x01\x86\x89"
    "ccollections\nOrderedDict\n)RtRu.";

/* The output is a well-formed safetensors file. */
static void
check_output(const uint8_t *p, size_t n)
{
    if (n < 8)
        abort();
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--)
        h = (h << 8) | p[i];
    if (h % 8 != 0 || h > n - 8 || p[8] != '{')
        abort();
    json_error_t e;
    json_t *j =
        json_loadb((const char *)p + 8, (size_t)h, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(j))
        abort();
    uint64_t pos = 0, data = n - 8 - h;
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        const char *dt = json_string_value(json_object_get(v, "dtype"));
        json_t *shape = json_object_get(v, "shape");
        json_t *offs = json_object_get(v, "data_offsets");
        int k = dt ? cv_dtype_by_name(dt) : -1;
        if (k < 0 || !json_is_array(shape) || json_array_size(offs) != 2)
            abort();
        uint64_t numel = 1;
        for (size_t i = 0; i < json_array_size(shape); i++)
            numel *= (uint64_t)json_integer_value(json_array_get(shape, i));
        /* F4: the shape counts elements, two per byte, along a last
           dimension that must exist */
        if (cv_dtype((enum cv_dt)k)->packed) {
            if (json_array_size(shape) == 0 || numel % 2 != 0)
                abort();
            numel /= 2;
        }
        uint64_t b = (uint64_t)json_integer_value(json_array_get(offs, 0));
        uint64_t end = (uint64_t)json_integer_value(json_array_get(offs, 1));
        if (b != pos || end < b ||
            end - b != numel * cv_dtype((enum cv_dt)k)->size ||
            b % cv_dtype((enum cv_dt)k)->size != 0)
            abort();
        pos = end;
    }
    if (pos != data)
        abort();
    json_decref(j);
}

static void
convert(const uint8_t *in_buf, size_t in_len, uint8_t *out)
{
    struct mg_conversion *c = mg_calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_seconds = 10; /* also bounds the HDF5 child */
    o.limits.max_total_bytes = OUT_CAP / 2;
    o.limits.max_values = 200000;
    o.limits.max_opcodes = 1000000;
    struct mg_input in;
    mg_input_mem(&in, in_buf, in_len);
    struct cv_model m;
    cv_model_init(&m, &o.limits, c, &in);
    struct cv_sink sink = {.fd = -1, .mem = out, .cap = OUT_CAP};
    enum mg_status st = cv_convert_input(&m, &sink);
    if (st == MG_OK)
        check_output(out, sink.len);
    else if (c->reason[0] == '\0')
        abort(); /* every refusal says why */
    cv_model_fini(&m);
    mg_conversion_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    unsigned mode = data[0] % 4;
    data++;
    size--;
    /* One output buffer for the whole run (8 MiB per input would be most
       of the time spent under ASan). */
    static uint8_t *out;
    if (out == NULL)
        out = malloc(OUT_CAP);
    struct bytes b = {malloc(size + 8192), 0, size + 8192};
    if (b.p == NULL || out == NULL)
        goto out;
    static const uint8_t storage[4096] = {1, 2, 3, 4, 5, 6, 7, 8};
    switch (mode) {
    case 0:
        add(&b, data, size);
        break;
    case 1:
        add(&b, legacy_head, sizeof(legacy_head));
        add(&b, data, size);
        break;
    case 2: {
        const char *names[] = {"archive/data.pkl", "archive/data/0",
                               "archive/data/1",   "archive/data/2",
                               "archive/data/3",   "archive/byteorder"};
        const uint8_t *datas[] = {data,    storage, storage,
                                  storage, storage, (const uint8_t *)"big"};
        size_t lens[] = {size, 16, 64, 256, 4096, 3};
        /* the byte order record only sometimes */
        size_t n = size > 0 && (data[size - 1] & 1) ? 6 : 5;
        build_zip(&b, names, datas, lens, n);
        break;
    }
    default:
        add(&b, legacy_head, sizeof(legacy_head));
        add(&b, legacy_obj, sizeof(legacy_obj) - 1);
        add(&b, data, size);
        break;
    }
    convert(b.p, b.n, out);
out:
    free(b.p);
    return 0;
}
