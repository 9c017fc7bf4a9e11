/*
 * indicators.h - searches strings for signs of a payload: URLs, IPv4 and
 * IPv6 addresses, shell command lines, long base64 blobs, embedded pickles.
 */
#ifndef MG_PICKLE_INDICATORS_H
#define MG_PICKLE_INDICATORS_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#define IND_URL    0x01
#define IND_IPV4   0x02
#define IND_IPV6   0x04
#define IND_SHELL  0x08
#define IND_BASE64 0x10
#define IND_PICKLE 0x20

/* Classes of indicators found in p[0..n). Cheap on text with none. */
uint16_t mg_ind_classify(const char *p, size_t n);

/*
 * Extract the first indicator of class `cls` from p[0..n) into out
 * (NUL-terminated, at most size-1 bytes); returns its length, 0 if none.
 */
size_t
mg_ind_extract(const char *p, size_t n, uint16_t cls, char *out, size_t size);

/* Stable rule-id suffix and label for one class bit. */
const char *mg_ind_rule(uint16_t cls);
const char *mg_ind_label(uint16_t cls);

#endif
