#include <png.h>

/* Composite format macros do not import into Swift. */
static inline png_uint_32 cpng_format_rgba(void) { return PNG_FORMAT_RGBA; }
static inline png_uint_32 cpng_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline png_uint_32 cpng_image_version(void) { return PNG_IMAGE_VERSION; }
