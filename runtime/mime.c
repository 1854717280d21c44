/*
 * mime.c - the Content-Type of a static file, from its extension (L2).  The
 * table covers what web sites ship; anything else is
 * application/octet-stream, so a browser downloads rather than guesses.
 * Text types carry "; charset=utf-8" (the encoding of nearly every text file
 * served today, and a browser otherwise guesses).  Looked up once per file
 * when the file cache fills an entry, not per request.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

struct mime {
    const char *ext; /* lower case, without the dot */
    const char *type;
};

#define UTF8 "; charset=utf-8"

/* Sorted by extension (strcmp order): looked up with bsearch. */
static const struct mime table[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml" UTF8},
    {"avif", "image/avif"},
    {"bin", "application/octet-stream"},
    {"bmp", "image/bmp"},
    {"br", "application/x-brotli"},
    {"bz2", "application/x-bzip2"},
    {"cjs", "text/javascript" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar" UTF8},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"jsonld", "application/ld+json" UTF8},
    {"jxl", "image/jxl"},
    {"m3u8", "application/vnd.apple.mpegurl"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mjs", "text/javascript" UTF8},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpd", "application/dash+xml" UTF8},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"rss", "application/rss+xml" UTF8},
    {"rtf", "application/rtf"},
    {"svg", "image/svg+xml" UTF8},
    {"svgz", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "application/toml" UTF8},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"vtt", "text/vtt" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json" UTF8},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml" UTF8},
    {"xml", "application/xml" UTF8},
    {"xz", "application/x-xz"},
    {"yaml", "application/yaml" UTF8},
    {"yml", "application/yaml" UTF8},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

#define OCTET_STREAM "application/octet-stream"

static int compare(const void *key, const void *elem)
{
    return strcmp(key, ((const struct mime *)elem)->ext);
}

const char *srv__mime_type(const char *path, size_t len)
{
    /* The extension of the last segment: after its last dot, unless that
     * dot starts the name (".profile" has none). */
    size_t i = len;
    while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
        i--;
    if (i < 2 || path[i - 1] != '.' || path[i - 2] == '/')
        return OCTET_STREAM;
    char ext[16];
    size_t n = len - i;
    if (n == 0 || n >= sizeof ext)
        return OCTET_STREAM;
    for (size_t k = 0; k < n; k++) {
        char ch = path[i + k];
        ext[k] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    ext[n] = '\0';
    const struct mime *m = bsearch(ext, table, sizeof table / sizeof table[0], sizeof table[0],
                                   compare);
    return m ? m->type : OCTET_STREAM;
}

bool srv__mime_table_sorted(void)
{
    for (size_t i = 1; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i - 1].ext, table[i].ext) >= 0)
            return false;
    }
    return true;
}
