/*
 * utf8.h - strict UTF-8: what a name must be before it becomes a file
 * name (signing) or a JSON string (convert).
 */
#ifndef MG_IO_UTF8_H
#define MG_IO_UTF8_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>

/* 1 when s[0..n) is valid UTF-8: no overlong forms, no surrogates, no code
   point above U+10FFFF. */
int mg_utf8_valid(const char *s, size_t n);

#endif
