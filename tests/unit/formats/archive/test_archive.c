/* The libarchive-backed containers: probes, every committed fixture with
   the finding and layer that explain its verdict, each limit, PyTorch's old
   tar layout, and allocation failures. Inputs that are not committed are
   written here with libarchive's writer. */
#include <archive.h>
#include <archive_entry.h>

#include "core/alloc.h"
#include "formats/archive/archive.h"
#include "mg_test.h"

/* ------------------------------------------------------------------ */
/* helpers */

/* First finding with this rule whose layer is `layer` (NULL: the file). */
static const struct mg_finding *
find_at(const struct mg_report *r, const char *rule, const char *layer)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (strcmp(f->rule, rule) != 0)
            continue;
        if (layer == NULL ? f->layer == NULL
                          : f->layer != NULL && strcmp(f->layer, layer) == 0)
            return f;
    }
    return NULL;
}

#define assert_finding_at(r, rule, layer)                 \
    do {                                                  \
        if (find_at((r), (rule), (layer)) == NULL) {      \
            mgt_dump(r);                                  \
            fail_msg("no finding %s at layer %s", (rule), \
                     (layer) ? (layer) : "(file)");       \
        }                                                 \
    } while (0)

static struct mg_report *
scan_fixture_opts(const char *name, const struct mg_options *o)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "archive/%s", name);
    size_t len = 0;
    unsigned char *b = mgt_fixture(rel, &len);
    struct mg_report *r = mgt_scan_opts(b, len, o);
    free(b);
    return r;
}

static struct mg_report *
scan_fixture(const char *name)
{
    return scan_fixture_opts(name, NULL);
}

struct member {
    const char *name;
    const void *data;
    size_t len;
};

/* An archive written by libarchive (format and filter codes), in a
   malloc'd buffer. */
static unsigned char *
build(int format, int filter, const struct member *m, size_t n, size_t *len)
{
    size_t cap = 64u << 20;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    struct archive *a = archive_write_new();
    assert_int_equal(archive_write_set_format(a, format), ARCHIVE_OK);
    if (filter != ARCHIVE_FILTER_NONE)
        assert_int_equal(archive_write_add_filter(a, filter), ARCHIVE_OK);
    assert_int_equal(archive_write_open_memory(a, buf, cap, len), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, m[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)m[i].len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, m[i].data, m[i].len),
                         (la_ssize_t)m[i].len);
        archive_entry_free(e);
    }
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    return buf;
}

static const char mal[] = "cos\nsystem\n(S'echo modelgate-test'\ntR.";

/* ------------------------------------------------------------------ */
/* probes */

static void
test_probes(void **state)
{
    (void)state;
    unsigned char h[1024];
    size_t len = 0;
    /* each committed fixture is claimed by its own probe */
    static const struct {
        const char *file;
        unsigned (*probe)(const uint8_t *, size_t, uint64_t);
    } own[] = {
        {"mal_model_bin.7z", mg_probe_7z},
        {"mal_model_bin.tar", mg_probe_tar},
        {"mal_v7.tar", mg_probe_tar},
        {"mal_model_bin.tar.gz", mg_probe_gzip},
        {"mal_model_bin.tar.bz2", mg_probe_bzip2},
        {"mal_model_bin.tar.xz", mg_probe_xz},
        {"mal_model_bin.tar.lzma", mg_probe_lzma},
        {"mal_model_bin.tar.zst", mg_probe_zstd},
        {"mal_model_bin.tar.lz4", mg_probe_lz4},
    };
    unsigned (*const all[])(const uint8_t *, size_t, uint64_t) = {
        mg_probe_7z, mg_probe_tar,  mg_probe_gzip, mg_probe_bzip2,
        mg_probe_xz, mg_probe_lzma, mg_probe_zstd, mg_probe_lz4};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "archive/%s", own[i].file);
        unsigned char *b = mgt_fixture(rel, &len);
        size_t n = len < sizeof(h) ? len : sizeof(h);
        memcpy(h, b, n);
        free(b);
        for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
            unsigned bits = all[k](h, n, len);
            if (all[k] == own[i].probe) {
                if (bits < 24)
                    fail_msg("%s: own probe says %u bits", own[i].file, bits);
            } else if (bits > 0) {
                fail_msg("%s: probe %zu also claims it", own[i].file, k);
            }
        }
        /* a head one byte short of what the probe needs is never read
           past (ASan) and never claimed with more bits */
        for (size_t cut = 0; cut < n && cut < 600; cut++) {
            unsigned char *c = malloc(cut ? cut : 1);
            memcpy(c, h, cut);
            (void)own[i].probe(c, cut, cut);
            free(c);
        }
    }
    /* a tar header with a wrong checksum is not a tar */
    unsigned char *b = mgt_fixture("archive/mal_model_bin.tar", &len);
    memcpy(h, b, 512);
    free(b);
    assert_true(mg_probe_tar(h, 512, 512) >= 96);
    h[0] ^= 1;
    assert_int_equal(mg_probe_tar(h, 512, 512), 0);
    /* pickles are not archives */
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        assert_int_equal(all[k]((const uint8_t *)mal, sizeof(mal) - 1, 40), 0);
    /* 7z and xz headers carry CRCs */
    b = mgt_fixture("archive/mal_model_bin.7z", &len);
    memcpy(h, b, 32);
    free(b);
    h[20] ^= 0x40;
    assert_int_equal(mg_probe_7z(h, 32, 32), 0);
    assert_true(mg_probe_7z(h, 8, 8) > 0); /* too short to check the CRC */
    static const unsigned char xzh[12] = {0xFD, '7', 'z', 'X', 'Z', 0,
                                          0,    1,   0,   0,   0,   0};
    assert_int_equal(mg_probe_xz(xzh, sizeof(xzh), 12), 0);
}

/* ------------------------------------------------------------------ */
/* fixtures */

struct expect {
    const char *file;
    enum mg_verdict verdict;
    const char *rule;  /* a finding that must be there */
    const char *layer; /* ... at this layer (NULL: the file itself) */
};

static const struct expect table[] = {
    {"mal_model_bin.tar", MG_VERDICT_DANGEROUS, "pickle-call", "model.bin"},
    {"mal_model_bin.tar.gz", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.tar.bz2", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.tar.xz", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.tar.lzma", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.tar.zst", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.tar.lz4", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!model.bin"},
    {"mal_model_bin.7z", MG_VERDICT_DANGEROUS, "pickle-call", "model.bin"},
    {"mal_readme_md.tar", MG_VERDICT_DANGEROUS, "pickle-call", "README.md"},
    {"mal_no_extension.tar", MG_VERDICT_DANGEROUS, "pickle-call", "weights"},
    {"mal_safetensors_name.7z", MG_VERDICT_DANGEROUS, "pickle-call",
     "weights.safetensors"},
    {"mal_v7.tar", MG_VERDICT_DANGEROUS, "pickle-call", "model.pt"},
    {"mal_unicode_name.7z", MG_VERDICT_DANGEROUS, "pickle-call",
     "\xd0\xbc\xd0\xbe\xd0\xb4\xd0\xb5\xd0\xbb\xd1\x8c/"
     "\xd0\xb4\xd0\xb0\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5.pkl"},
    {"mal_bad_utf16_name.7z", MG_VERDICT_DANGEROUS, "archive-member-name",
     NULL},
    {"mal_os_system.pkl.gz", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_os_system.pkl.bz2", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_os_system.pkl.xz", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_os_system.pkl.lzma", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_os_system.pkl.zst", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_os_system.pkl.lz4", MG_VERDICT_DANGEROUS, "pickle-call", "data"},
    {"mal_torch_folder_broken.7z", MG_VERDICT_DANGEROUS, "pickle-broken",
     "archive/data.pkl"},
    {"mal_nested.7z.xz", MG_VERDICT_DANGEROUS, "pickle-call",
     "data!inner.tar.gz!data!payload.pkl"},
    {"mal_after_bad_member.7z", MG_VERDICT_DANGEROUS, "pickle-call",
     "second.pkl"},
    {"mal_truncated.tar.gz", MG_VERDICT_DANGEROUS, "archive-corrupt", NULL},
    {"mal_reserved_flags.pkl.gz", MG_VERDICT_DANGEROUS, "archive-header", NULL},
    {"sus_truncated.pkl.gz", MG_VERDICT_SUSPICIOUS, "archive-corrupt", NULL},
    {"mal_torch_legacy_pickle.tar", MG_VERDICT_DANGEROUS, "pickle-call",
     "pickle"},
    {"mal_torch_legacy_views.tar", MG_VERDICT_DANGEROUS, "pickle-call",
     "storages"},
    {"mal_torch_legacy_hidden.tar", MG_VERDICT_DANGEROUS, "torch-tar-layout",
     "storages"},
    {"ok_plain.tar", MG_VERDICT_SAFE, "archive-info", NULL},
    {"ok_plain.tar.gz", MG_VERDICT_SAFE, "archive-info", NULL},
    {"ok_plain.7z", MG_VERDICT_SAFE, "archive-info", NULL},
    {"ok_plain.pkl.xz", MG_VERDICT_SAFE, "archive-info", NULL},
    {"ok_torch_folder.7z", MG_VERDICT_SAFE, "archive-info", NULL},
    {"ok_torch_legacy.tar", MG_VERDICT_SAFE, "archive-info", NULL},
    {"sus_path_traversal.tar", MG_VERDICT_SUSPICIOUS, "archive-member-name",
     NULL},
    {"sus_absolute_path.7z", MG_VERDICT_SUSPICIOUS, "archive-member-name",
     NULL},
    {"sus_symlink_outside.tar", MG_VERDICT_SUSPICIOUS, "archive-link", NULL},
    {"sus_symlink_outside.7z", MG_VERDICT_SUSPICIOUS, "archive-link", NULL},
    {"sus_device.tar", MG_VERDICT_SUSPICIOUS, "archive-special", NULL},
    {"sus_bad_crc.7z", MG_VERDICT_SUSPICIOUS, "archive-corrupt", NULL},
    {"sus_torch_legacy_trailing.tar", MG_VERDICT_SUSPICIOUS, "torch-tar-layout",
     "storages"},
    {"sus_torch_legacy_duplicate.tar", MG_VERDICT_SUSPICIOUS,
     "archive-duplicate", NULL},
    {"sus_torch_legacy_symlink.tar", MG_VERDICT_SUSPICIOUS, "archive-link",
     NULL},
    {"err_encrypted.7z", MG_VERDICT_ERROR, "archive-encrypted", NULL},
    {"err_encrypted_header.7z", MG_VERDICT_ERROR, "archive-encrypted", NULL},
};

static void
test_fixture_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const struct expect *e = &table[i];
        struct mg_report *r = scan_fixture(e->file);
        if (mg_report_verdict(r) != e->verdict ||
            !find_at(r, e->rule, e->layer)) {
            mgt_dump(r);
            fail_msg("%s: verdict %s, wanted %s with %s at %s", e->file,
                     mg_verdict_name(mg_report_verdict(r)),
                     mg_verdict_name(e->verdict), e->rule,
                     e->layer ? e->layer : "(file)");
        }
        mg_report_free(r);
    }
}

/* The published case: the payload's findings come before the break, and
   the break is reported with its offset, inside archive/data.pkl. */
static void
test_published_case(void **state)
{
    (void)state;
    struct mg_report *r = scan_fixture("mal_torch_folder_broken.7z");
    const struct mg_finding *call =
        find_at(r, "pickle-call", "archive/data.pkl");
    const struct mg_finding *brk =
        find_at(r, "pickle-broken", "archive/data.pkl");
    assert_non_null(call);
    assert_non_null(brk);
    assert_int_equal(call->severity, MG_SEV_DANGEROUS);
    assert_string_equal(call->module, "posix");
    assert_string_equal(call->name, "system");
    assert_int_equal(brk->offset, 62);
    assert_true(call->offset < brk->offset);
    assert_string_equal(mg_report_format(r), "7z");
    assert_true(mg_report_complete(r));
    mg_report_free(r);
}

/* Benign archives are clean and complete; encrypted ones never are. */
static void
test_ok_and_encrypted(void **state)
{
    (void)state;
    struct mg_report *r = scan_fixture("ok_torch_legacy.tar");
    assert_verdict(r, MG_VERDICT_SAFE);
    assert_true(mg_report_complete(r));
    assert_null(mgt_find(r, "torch-tar-layout", NULL, NULL));
    mg_report_free(r);
    r = scan_fixture("err_encrypted.7z");
    assert_false(mg_report_complete(r));
    assert_null(mgt_find(r, "pickle-call", NULL, NULL));
    mg_report_free(r);
}

/* ------------------------------------------------------------------ */
/* limits */

static void
assert_limit(struct mg_report *r, const char *name)
{
    if (mgt_find(r, "limit", NULL, name) == NULL) {
        mgt_dump(r);
        fail_msg("no limit %s", name);
    }
    assert_false(mg_report_complete(r));
}

static void
test_max_depth(void **state)
{
    (void)state;
    struct mg_options o;
    mg_options_init(&o);
    /* xz -> data (1) -> inner.tar.gz (2) -> data (3) -> payload.pkl (4) */
    o.limits.max_depth = 4;
    struct mg_report *r = scan_fixture_opts("mal_nested.7z.xz", &o);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_true(mg_report_complete(r));
    mg_report_free(r);
    o.limits.max_depth = 3;
    r = scan_fixture_opts("mal_nested.7z.xz", &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-depth");
    assert_finding_at(r, "limit", "data!inner.tar.gz!data");
    mg_report_free(r);
}

static void
test_max_members(void **state)
{
    (void)state;
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_members = 3; /* ok_plain.tar has 3 */
    struct mg_report *r = scan_fixture_opts("ok_plain.tar", &o);
    assert_verdict(r, MG_VERDICT_SAFE);
    mg_report_free(r);
    o.limits.max_members = 2;
    r = scan_fixture_opts("ok_plain.tar", &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-members");
    mg_report_free(r);
}

/* One gzip'ed member of n zero bytes after a pickle prefix that reads
   them all (BINBYTES8 of n bytes, then STOP). */
static unsigned char *
gzip_payload(size_t n, int format, size_t *len)
{
    size_t total = 11 + n + 1; /* PROTO 4, BINBYTES8 n, payload, STOP */
    unsigned char *p = calloc(1, total);
    assert_non_null(p);
    p[0] = 0x80;
    p[1] = 4;
    p[2] = 0x8e; /* BINBYTES8 */
    for (int i = 0; i < 8; i++)
        p[3 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    p[total - 1] = '.';
    struct member m = {"z.pkl", p, total};
    unsigned char *b = build(format, ARCHIVE_FILTER_GZIP, &m, 1, len);
    free(p);
    return b;
}

static void
test_max_member_bytes_total_and_ratio(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *b = gzip_payload(4u << 20, ARCHIVE_FORMAT_TAR_USTAR, &len);
    struct mg_options o;
    mg_options_init(&o);
    struct mg_report *r = mgt_scan_opts(b, len, &o);
    /* 4 MiB of zeros from a few KiB: below max-ratio x (in + 64 KiB) */
    assert_verdict(r, MG_VERDICT_SAFE);
    mg_report_free(r);

    o.limits.max_member_bytes = 1u << 20;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-member-bytes");
    /* reported where the reading was: the tar member, inside the gzip's
       data */
    assert_finding_at(r, "limit", "data!z.pkl");
    mg_report_free(r);

    mg_options_init(&o);
    o.limits.max_total_bytes = 1u << 20;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-total-bytes");
    mg_report_free(r);

    mg_options_init(&o);
    o.limits.max_ratio = 10;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-ratio");
    mg_report_free(r);
    free(b);

    /* the ratio of a whole 7z catches many small members that are each
       below the per-member threshold */
    static unsigned char zeros[48u << 10];
    struct member m[64];
    char names[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof(names[i]), "z%d", i);
        m[i] = (struct member){names[i], zeros, sizeof(zeros)};
    }
    b = build(ARCHIVE_FORMAT_7ZIP, ARCHIVE_FILTER_NONE, m, 64, &len);
    mg_options_init(&o);
    o.limits.max_ratio = 20;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-ratio");
    const struct mg_finding *f = mgt_find(r, "limit", NULL, "max-ratio");
    assert_non_null(strstr(f->message, "7z:"));
    mg_report_free(r);
    free(b);
}

static void
test_max_spool_and_tar_window(void **state)
{
    (void)state;
    struct mg_options o;
    mg_options_init(&o);
    o.limits.max_spool_bytes = 16;
    /* a 7z inside an xz stream must be held in memory */
    struct mg_report *r = scan_fixture_opts("mal_nested.7z.xz", &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-spool-bytes");
    mg_report_free(r);
    /* a 7z member of an uncompressed tar is a window of the file: no
       spooling needed */
    size_t len7 = 0, len = 0;
    unsigned char *z = mgt_fixture("archive/mal_model_bin.7z", &len7);
    struct member m = {"inner.7z", z, len7};
    unsigned char *b = build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                             ARCHIVE_FILTER_NONE, &m, 1, &len);
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_true(mg_report_complete(r));
    assert_finding_at(r, "pickle-call", "inner.7z!model.bin");
    mg_report_free(r);
    free(b);
    /* the same in a tar.gz: a stream again */
    b = build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_GZIP, &m, 1,
              &len);
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_ERROR);
    assert_limit(r, "max-spool-bytes");
    mg_report_free(r);
    o.limits.max_spool_bytes = len7;
    r = mgt_scan_opts(b, len, &o);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_finding_at(r, "pickle-call", "data!inner.7z!model.bin");
    mg_report_free(r);
    free(b);
    free(z);
}

/* ------------------------------------------------------------------ */
/* PyTorch's old tar layout */

static void
test_torch_tar(void **state)
{
    (void)state;
    /* the structure is followed: no trailing-data finding on raw bytes */
    struct mg_report *r = scan_fixture("ok_torch_legacy.tar");
    assert_null(mgt_find(r, "pickle-trailing-data", NULL, NULL));
    assert_null(mgt_find(r, "pickle-broken", NULL, NULL));
    mg_report_free(r);
    /* bytes after the last record: reported where they start */
    r = scan_fixture("sus_torch_legacy_trailing.tar");
    const struct mg_finding *f = find_at(r, "torch-tar-layout", "storages");
    assert_non_null(f);
    assert_int_equal(f->offset, 117);
    assert_non_null(strstr(f->message, "ignores"));
    mg_report_free(r);
    /* an unknown storage type: the rest is still scanned for pickles */
    r = scan_fixture("mal_torch_legacy_hidden.tar");
    f = find_at(r, "torch-tar-layout", "storages");
    assert_non_null(f);
    assert_non_null(strstr(f->message, "would fail"));
    assert_finding_at(r, "pickle-call", "storages");
    mg_report_free(r);
    /* the same members in a 7z are only pickles followed by bytes (torch
       reads the layout from a tar only) */
    size_t len = 0;
    unsigned char *t = mgt_fixture("archive/ok_torch_legacy.tar", &len);
    struct member m = {"legacy.tar", t, len};
    size_t blen = 0;
    unsigned char *b =
        build(ARCHIVE_FORMAT_7ZIP, ARCHIVE_FILTER_NONE, &m, 1, &blen);
    r = mgt_scan(b, blen);
    assert_verdict(r, MG_VERDICT_SAFE);
    assert_finding_at(r, "archive-info", "legacy.tar");
    mg_report_free(r);
    free(b);
    free(t);
}

static void
test_member_names(void **state)
{
    (void)state;
    /* control characters never reach the layer path */
    struct member m = {"a\nb\x1b[31m.pkl", mal, sizeof(mal) - 1};
    size_t len = 0;
    unsigned char *b = build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
                             ARCHIVE_FILTER_NONE, &m, 1, &len);
    struct mg_report *r = mgt_scan(b, len);
    assert_verdict(r, MG_VERDICT_DANGEROUS);
    assert_finding_at(r, "pickle-call", "a?b?[31m.pkl");
    assert_finding_at(r, "archive-member-name", NULL);
    mg_report_free(r);
    free(b);
    /* Windows extracts ".. " as "..": out of the folder */
    struct member w = {"a/.. /x.txt", "x", 1};
    b = build(ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FILTER_NONE, &w, 1,
              &len);
    r = mgt_scan(b, len);
    assert_finding_at(r, "archive-member-name", NULL);
    mg_report_free(r);
    free(b);
}

/* A header our probe accepts (right checksum) and libarchive's tar reader
   refuses: found by fuzzing, libarchive 3.6 then leaves its format pointer
   past its table, so nothing may ask it about encryption. */
static void
test_refused_tar_header(void **state)
{
    (void)state;
    size_t len = 0;
    unsigned char *b =
        mgt_fixture("../../fuzz/corpus/archive/"
                    "crash-756ffaa3fe0a9519d05276b66c64db5283c0c8ec",
                    &len);
    assert_true(len >= 512);
    unsigned sum = 0;
    for (size_t i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : b[i];
    snprintf((char *)b + 148, 8, "%06o", sum);
    b[155] = ' ';
    assert_true(mg_probe_tar(b, 512, len) > 0);
    struct mg_report *r = mgt_scan(b, len);
    assert_verdict(r, MG_VERDICT_SUSPICIOUS);
    assert_finding_at(r, "archive-corrupt", NULL);
    assert_false(mg_report_complete(r));
    mg_report_free(r);
    free(b);
}

#ifdef MG_ALLOC_HOOKS
/* Fail each allocation of a nested scan in turn: MG_E_NOMEM, or a report
   that never says less than the full scan (ASan checks leaks). */
static void
test_alloc_failures(void **state)
{
    (void)state;
    static const char *const files[] = {"mal_nested.7z.xz",
                                        "mal_torch_legacy_hidden.tar"};
    for (size_t k = 0; k < 2; k++) {
        char rel[128];
        snprintf(rel, sizeof(rel), "archive/%s", files[k]);
        size_t len = 0;
        unsigned char *b = mgt_fixture(rel, &len);
        struct mg_options o;
        mg_options_init(&o);
        struct mg_scanner *s = NULL;
        assert_int_equal(mg_scanner_new(&o, &s), MG_OK);
        mg_alloc_fail_at(0);
        struct mg_report *r = NULL;
        assert_int_equal(mg_scan_buffer(s, b, len, "f", &r), MG_OK);
        unsigned long total = mg_alloc_count();
        mg_report_free(r);
        for (unsigned long n = 1; n <= total; n++) {
            mg_alloc_fail_at(n);
            r = NULL;
            enum mg_status st = mg_scan_buffer(s, b, len, "f", &r);
            mg_alloc_fail_at(0);
            if (st == MG_OK)
                assert_int_equal(mg_report_verdict(r), MG_VERDICT_DANGEROUS);
            else
                assert_int_equal(st, MG_E_NOMEM);
            mg_report_free(r);
        }
        mg_scanner_free(s);
        free(b);
    }
}
#endif

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probes),
        cmocka_unit_test(test_fixture_table),
        cmocka_unit_test(test_published_case),
        cmocka_unit_test(test_ok_and_encrypted),
        cmocka_unit_test(test_max_depth),
        cmocka_unit_test(test_max_members),
        cmocka_unit_test(test_max_member_bytes_total_and_ratio),
        cmocka_unit_test(test_max_spool_and_tar_window),
        cmocka_unit_test(test_torch_tar),
        cmocka_unit_test(test_member_names),
        cmocka_unit_test(test_refused_tar_header),
#ifdef MG_ALLOC_HOOKS
        cmocka_unit_test(test_alloc_failures),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
