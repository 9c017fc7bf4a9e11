/*
 * fmt_test.h - helpers for the format tests: fixture tables (file,
 * verdict, format, a finding's rule and a phrase of its message) and
 * robustness loops (every truncation, byte flips) that must never crash
 * and never call a damaged file safe when the intact one is not.
 */
#ifndef MG_FMT_TEST_H
#define MG_FMT_TEST_H

#include "mg_test.h"

struct fx_expect {
    const char *file;
    enum mg_verdict verdict;
    const char *rule;   /* a finding that must be there, or NULL */
    const char *needle; /* text its message must contain, or NULL */
};

static inline const struct mg_finding *
fx_find(const struct mg_report *r, const char *rule, const char *needle)
{
    for (size_t i = 0; i < mg_report_count(r); i++) {
        const struct mg_finding *f = mg_report_get(r, i);
        if (strcmp(f->rule, rule) == 0 &&
            (needle == NULL || strstr(f->message, needle) != NULL))
            return f;
    }
    return NULL;
}

/* Scan every fixture of the table (under dir) and check it; format is the
   expected outermost format (NULL: any). */
static inline void
fx_run(const char *dir, const char *format, const struct fx_expect *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char rel[300];
        snprintf(rel, sizeof(rel), "%s/%s", dir, t[i].file);
        struct mg_report *r = mgt_scan_fixture(rel);
        if (format != NULL && strcmp(mg_report_format(r), format) != 0) {
            mgt_dump(r);
            fail_msg("%s: format %s, expected %s", t[i].file,
                     mg_report_format(r), format);
        }
        if (mg_report_verdict(r) != t[i].verdict) {
            mgt_dump(r);
            fail_msg("%s: verdict %s, expected %s", t[i].file,
                     mg_verdict_name(mg_report_verdict(r)),
                     mg_verdict_name(t[i].verdict));
        }
        if (t[i].rule != NULL && fx_find(r, t[i].rule, t[i].needle) == NULL) {
            mgt_dump(r);
            fail_msg("%s: no %s finding with \"%s\"", t[i].file, t[i].rule,
                     t[i].needle ? t[i].needle : "");
        }
        mg_report_free(r);
    }
}

/* Every prefix of at least from bytes (shorter ones do not say what
   format they are), step bytes apart: no crash, and never safe unless
   only the last tail_ok bytes (padding) were cut. */
static inline void
fx_truncations(const char *rel, size_t from, size_t step, size_t tail_ok)
{
    size_t len = 0;
    unsigned char *b = mgt_fixture(rel, &len);
    size_t allowed_safe_from = len > tail_ok ? len - tail_ok : 0;
    for (size_t cut = from; cut < len; cut += step) {
        unsigned char *c = malloc(cut);
        memcpy(c, b, cut); /* exact size: ASan sees any overread */
        struct mg_report *r = mgt_scan(c, cut);
        if (mg_report_verdict(r) == MG_VERDICT_SAFE &&
            cut < allowed_safe_from) {
            mgt_dump(r);
            fail_msg("%s cut at %zu is called safe", rel, cut);
        }
        mg_report_free(r);
        free(c);
    }
    free(b);
}

/* Each byte flipped (step bytes apart) in turn: no crash, no hang (opt:
   options, NULL for the defaults). */
static inline void
fx_flips_opts(const char *rel, size_t step, const struct mg_options *opt)
{
    size_t len = 0;
    unsigned char *b = mgt_fixture(rel, &len);
    for (size_t i = 0; i < len; i += step) {
        static const unsigned char xors[] = {0xFF, 0x80, 0x01, 0x7F};
        for (size_t k = 0; k < sizeof(xors); k++) {
            b[i] ^= xors[k];
            struct mg_report *r = mgt_scan_opts(b, len, opt);
            (void)mg_report_verdict(r);
            mg_report_free(r);
            b[i] ^= xors[k];
        }
    }
    free(b);
}

/* A fixture scanned with one limit set to value: the scan is incomplete
   (verdict error) and the limit is named. */
#define FX_LIMIT(rel, field, value, name)                                \
    do {                                                                 \
        size_t fx_len_;                                                  \
        unsigned char *fx_b_ = mgt_fixture((rel), &fx_len_);             \
        struct mg_options fx_o_;                                         \
        mg_options_init(&fx_o_);                                         \
        fx_o_.limits.field = (value);                                    \
        struct mg_report *fx_r_ = mgt_scan_opts(fx_b_, fx_len_, &fx_o_); \
        assert_verdict(fx_r_, MG_VERDICT_ERROR);                         \
        if (fx_find(fx_r_, "limit", (name)) == NULL) {                   \
            mgt_dump(fx_r_);                                             \
            fail_msg("%s: no limit %s", (rel), (name));                  \
        }                                                                \
        mg_report_free(fx_r_);                                           \
        free(fx_b_);                                                     \
    } while (0)

static inline void
fx_flips(const char *rel, size_t step)
{
    fx_flips_opts(rel, step, NULL);
}

#endif
