/*
 * keras.h - Keras model configurations. The same JSON shows up in
 * several places: config.json of a .keras archive (a member the ZIP layer
 * hands over), the model_config attribute of a legacy .h5 file, and the
 * metadata of every object of a SavedModel's keras_metadata.pb. All of
 * them go through mg_keras_scan_json().
 */
#ifndef MG_FORMATS_KERAS_H
#define MG_FORMATS_KERAS_H
#ifndef MG_BUILDING
#error "private header"
#endif

#include <stddef.h>
#include <stdint.h>

#include "core/ctx.h"

/*
 * Scan one Keras JSON document given as stored (bytes; decoded as
 * Python's json.loads(bytes) decodes them). base_off: offset of the text
 * in the current layer, for finding offsets (-1: none). where: what the
 * document is, for messages ("config.json", "model_config attribute").
 */
enum mg_status mg_keras_scan_json(struct mg_ctx *ctx,
                                  const uint8_t *text,
                                  size_t len,
                                  int64_t base_off,
                                  const char *where);

/* Does this look like a Keras JSON document (config or metadata)? Bits of
   confidence as a probe returns them, 0 when not. */
unsigned mg_keras_json_probe(const uint8_t *head, size_t len);

#endif
