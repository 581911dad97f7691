/* PingWatcher — the app's output: JSON documents, or HTML fragments for HTMX, from one set of
 * calls.
 *
 * A handler describes its answer once: objects, arrays and fields in JSON terms, with lists
 * that are tables (pw_out_table_begin) given their columns. In JSON mode every call writes
 * JSON. In HTML mode only tables are drawn: each row's fields whose keys match the table's
 * columns, in column order, become cells; everything else (metadata, nested arrays) is left
 * out. Every string is escaped for where it lands (JSON string or HTML text/attribute), and
 * bytes that are not valid UTF-8 become U+FFFD: labels, comments and DNS names (PTR records)
 * are attacker-controlled.
 */
#ifndef PW_RENDER_H
#define PW_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum pw_fmt {
    PW_FMT_JSON = 0,
    PW_FMT_HTML = 1,
};

/* A table column: the JSON key whose value fills it, and its heading. */
struct pw_col {
    const char *key;
    const char *title;
};

#define PW_OUT_MAX_DEPTH 16

struct pw_out {
    enum pw_fmt fmt;
    struct pw_buf *b;
    unsigned depth;               /* JSON nesting */
    bool comma[PW_OUT_MAX_DEPTH]; /* a value was written at this level */
    const struct pw_col *cols;    /* HTML: columns of the open table */
    unsigned ncols, col;          /* HTML: next column to fill */
    bool in_row;                  /* HTML: inside a <tr> */
    bool row_only;                /* HTML: the table is one row, without <table> */
    unsigned skip;                /* HTML: nesting inside a row that is not drawn */
};

void pw_out_init(struct pw_out *o, enum pw_fmt fmt, struct pw_buf *b);

/* Containers. key is the member name inside an object, NULL inside an array or at the top. */
void pw_out_obj_begin(struct pw_out *o, const char *key);
void pw_out_obj_end(struct pw_out *o);
void pw_out_arr_begin(struct pw_out *o, const char *key);
void pw_out_arr_end(struct pw_out *o);

/* A list drawn as a table in HTML (class "pw-<cls>", cls a fixed identifier). caption may be
 * NULL (escaped when given). row_only: HTML draws only the rows (for a fragment that adds one
 * row to an existing table). */
void pw_out_table_begin(struct pw_out *o, const char *key, const char *cls, const char *caption,
                        const struct pw_col *cols, unsigned ncols, bool row_only);
void pw_out_table_end(struct pw_out *o);
/* A row: a JSON object; in HTML a <tr>, with id attribute html_id when not NULL (a fixed
 * identifier built by the caller, such as "target-3"; escaped anyway). */
void pw_out_row_begin(struct pw_out *o, const char *html_id);
void pw_out_row_end(struct pw_out *o);

/* Fields (key NULL inside arrays). */
void pw_out_str(struct pw_out *o, const char *key, const char *s); /* NULL: null */
void pw_out_strn(struct pw_out *o, const char *key, const char *s, size_t n);
void pw_out_int(struct pw_out *o, const char *key, int64_t v);
void pw_out_uint(struct pw_out *o, const char *key, uint64_t v);
/* A number with at most `decimals` decimals (trailing zeros dropped); null when !valid. */
void pw_out_num(struct pw_out *o, const char *key, bool valid, double v, int decimals);
/* A latency in ms (3 decimals); null when !valid; HTML shows "ERR" when lost. */
void pw_out_ms(struct pw_out *o, const char *key, bool valid, double ms, bool lost);
void pw_out_bool(struct pw_out *o, const char *key, bool v);
void pw_out_null(struct pw_out *o, const char *key);
/* A time: "<key>": RFC 3339 UTC and "<key>_ms": Unix ms (one cell in HTML). */
void pw_out_time(struct pw_out *o, const char *key, int64_t us);

/* Appends output made earlier by the same calls from the same state (a cached part of a
 * document that is complete in itself: every container it opens it closes). In JSON the part
 * holds at least one member or element (or is empty). In HTML only the bytes are replayed,
 * not the position in a table row: a part made inside a row must fill no cell. */
void pw_out_splice(struct pw_out *o, const char *data, size_t n);

/* HTML only: fills the cell of `key` with markup the caller built from trusted parts only
 * (numbers, fixed text). Nothing in JSON. */
void pw_out_html_cell(struct pw_out *o, const char *key, const char *html, size_t n);

/* Escapers, usable on their own. n bytes of s (which need not be NUL-terminated). */
void pw_json_escape(struct pw_buf *b, const char *s, size_t n); /* with the quotes */
void pw_html_escape(struct pw_buf *b, const char *s, size_t n);
/* Writes v with at most `decimals` decimals, trailing zeros and dot dropped. */
void pw_num_format(struct pw_buf *b, double v, int decimals);

#endif
