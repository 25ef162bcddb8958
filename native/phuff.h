/*
 * posterscope's progressive Huffman decoder (phuff.c), put in place of
 * libjpeg-turbo's for one decode. Call it from the progress monitor's first
 * call inside jpeg_start_decompress, once the library has set up its
 * modules and begun the first scan. Where the library would warn or fail,
 * or where the file uses what is not copied (restart markers), it sets
 * *gave_up and longjmps to bail: start the decode over without it.
 */
#ifndef POSTERSCOPE_PHUFF_H
#define POSTERSCOPE_PHUFF_H
#include <setjmp.h>
#include <stdio.h>
#include <jpeglib.h>

/* Whether this libjpeg's tables are the ones phuff.c copies: ask once, at load. */
int posterscope_phuff_usable(void);

void posterscope_phuff_install(j_decompress_ptr cinfo, jmp_buf *bail, volatile int *gave_up);

#endif
