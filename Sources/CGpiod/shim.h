// One interface over libgpiod 1.6 (Debian 12, v1 API) and 2.x (Debian 13,
// v2 API), chosen at compile time from the header. Imported by PanicPlatform
// alone. Every function returns -1 or NULL with errno set on failure.
#ifndef CGPIOD_SHIM_H
#define CGPIOD_SHIM_H

#include <gpiod.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CPANIC_BIAS_AS_IS 0
#define CPANIC_BIAS_DISABLE 1
#define CPANIC_BIAS_PULL_UP 2
#define CPANIC_BIAS_PULL_DOWN 3

typedef struct {
    int64_t timestamp_ns;   // CLOCK_MONOTONIC, as the kernel stamped it
    int rising;             // 1 rising (line became active), 0 falling
} cpanic_gpio_event;

static inline void cpanic_copy(char *dst, size_t len, const char *src) {
    if (!dst || len == 0) return;
    if (!src) src = "";
    strncpy(dst, src, len - 1);
    dst[len - 1] = 0;
}

#ifdef GPIOD_LINE_BULK_MAX_LINES
/* ---------------------------------------------------------------- v1 (1.x) */
typedef struct { struct gpiod_chip *chip; struct gpiod_line *line; } cpanic_gpio;

static inline const char *cpanic_gpio_api(void) { return "libgpiod 1.x (v1 API)"; }

static inline int cpanic_gpio_chip_info(const char *path, char *name, size_t nlen, char *label, size_t llen) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    cpanic_copy(name, nlen, gpiod_chip_name(c));
    cpanic_copy(label, llen, gpiod_chip_label(c));
    int n = (int)gpiod_chip_num_lines(c);
    gpiod_chip_close(c);
    return n;
}

static inline int cpanic_gpio_line_info(const char *path, unsigned offset, char *name, size_t nlen, char *consumer, size_t clen) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    struct gpiod_line *l = gpiod_chip_get_line(c, offset);
    if (!l) { int e = errno; gpiod_chip_close(c); errno = e; return -1; }
    cpanic_copy(name, nlen, gpiod_line_name(l));
    cpanic_copy(consumer, clen, gpiod_line_consumer(l));
    int used = gpiod_line_is_used(l) ? 1 : 0;
    gpiod_chip_close(c);
    return used;
}

static inline int cpanic_gpio_find_line(const char *path, const char *name) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    int found = -1;
    unsigned n = gpiod_chip_num_lines(c);
    for (unsigned i = 0; i < n; i++) {
        struct gpiod_line *l = gpiod_chip_get_line(c, i);
        const char *ln = l ? gpiod_line_name(l) : NULL;
        if (ln && strcmp(ln, name) == 0) { found = (int)i; break; }
    }
    gpiod_chip_close(c);
    if (found < 0) errno = ENOENT;
    return found;
}

static inline cpanic_gpio *cpanic_gpio_request(const char *path, unsigned offset, int bias, int active_low, const char *consumer) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return NULL;
    struct gpiod_line *l = gpiod_chip_get_line(c, offset);
    if (!l) { int e = errno; gpiod_chip_close(c); errno = e; return NULL; }
    int flags = 0;
    if (active_low) flags |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
    if (bias == CPANIC_BIAS_DISABLE) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    if (bias == CPANIC_BIAS_PULL_UP) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (bias == CPANIC_BIAS_PULL_DOWN) flags |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    if (gpiod_line_request_both_edges_events_flags(l, consumer, flags) < 0) {
        int e = errno; gpiod_chip_close(c); errno = e; return NULL;
    }
    cpanic_gpio *g = (cpanic_gpio *)calloc(1, sizeof(cpanic_gpio));
    g->chip = c; g->line = l;
    return g;
}

/// A line requested as an output (a lamp), driven to `initial` at once.
static inline cpanic_gpio *cpanic_gpio_request_output(const char *path, unsigned offset, int active_low, int initial, const char *consumer) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return NULL;
    struct gpiod_line *l = gpiod_chip_get_line(c, offset);
    if (!l) { int e = errno; gpiod_chip_close(c); errno = e; return NULL; }
    int flags = active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;
    if (gpiod_line_request_output_flags(l, consumer, flags, initial ? 1 : 0) < 0) {
        int e = errno; gpiod_chip_close(c); errno = e; return NULL;
    }
    cpanic_gpio *g = (cpanic_gpio *)calloc(1, sizeof(cpanic_gpio));
    g->chip = c; g->line = l;
    return g;
}

static inline int cpanic_gpio_set(cpanic_gpio *g, int value) { return gpiod_line_set_value(g->line, value ? 1 : 0); }

static inline int cpanic_gpio_fd(cpanic_gpio *g) { return gpiod_line_event_get_fd(g->line); }

static inline int cpanic_gpio_value(cpanic_gpio *g) { return gpiod_line_get_value(g->line); }

/// Reads up to `max` pending events without blocking (the fd is polled first).
static inline int cpanic_gpio_read(cpanic_gpio *g, cpanic_gpio_event *out, int max) {
    struct gpiod_line_event evs[16];
    if (max > 16) max = 16;
    int n = gpiod_line_event_read_fd_multiple(gpiod_line_event_get_fd(g->line), evs, (unsigned)max);
    for (int i = 0; i < n; i++) {
        out[i].timestamp_ns = (int64_t)evs[i].ts.tv_sec * 1000000000 + evs[i].ts.tv_nsec;
        out[i].rising = evs[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE ? 1 : 0;
    }
    return n;
}

static inline void cpanic_gpio_release(cpanic_gpio *g) {
    if (!g) return;
    gpiod_line_release(g->line);
    gpiod_chip_close(g->chip);
    free(g);
}

#else
/* ---------------------------------------------------------------- v2 (2.x) */
typedef struct { struct gpiod_line_request *req; struct gpiod_edge_event_buffer *buf; unsigned offset; } cpanic_gpio;

static inline const char *cpanic_gpio_api(void) { return "libgpiod 2.x (v2 API)"; }

static inline int cpanic_gpio_chip_info(const char *path, char *name, size_t nlen, char *label, size_t llen) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    struct gpiod_chip_info *info = gpiod_chip_get_info(c);
    if (!info) { int e = errno; gpiod_chip_close(c); errno = e; return -1; }
    cpanic_copy(name, nlen, gpiod_chip_info_get_name(info));
    cpanic_copy(label, llen, gpiod_chip_info_get_label(info));
    int n = (int)gpiod_chip_info_get_num_lines(info);
    gpiod_chip_info_free(info);
    gpiod_chip_close(c);
    return n;
}

static inline int cpanic_gpio_line_info(const char *path, unsigned offset, char *name, size_t nlen, char *consumer, size_t clen) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    struct gpiod_line_info *info = gpiod_chip_get_line_info(c, offset);
    if (!info) { int e = errno; gpiod_chip_close(c); errno = e; return -1; }
    cpanic_copy(name, nlen, gpiod_line_info_get_name(info));
    cpanic_copy(consumer, clen, gpiod_line_info_get_consumer(info));
    int used = gpiod_line_info_is_used(info) ? 1 : 0;
    gpiod_line_info_free(info);
    gpiod_chip_close(c);
    return used;
}

static inline int cpanic_gpio_find_line(const char *path, const char *name) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) return -1;
    int off = gpiod_chip_get_line_offset_from_name(c, name);
    int e = errno;
    gpiod_chip_close(c);
    errno = e;
    return off;
}

/* Requests one line with the settings `s` (NULL: out of memory), which it
 * frees; errno says why when it returns NULL. */
static inline struct gpiod_line_request *cpanic_v2_request(const char *path, unsigned offset, struct gpiod_line_settings *s, const char *consumer) {
    struct gpiod_chip *c = gpiod_chip_open(path);
    if (!c) { int e = errno; if (s) gpiod_line_settings_free(s); errno = e; return NULL; }
    struct gpiod_line_config *lc = gpiod_line_config_new();
    struct gpiod_request_config *rc = gpiod_request_config_new();
    struct gpiod_line_request *req = NULL;
    int e = ENOMEM;
    if (s && lc && rc) {
        gpiod_request_config_set_consumer(rc, consumer);
        if (gpiod_line_config_add_line_settings(lc, &offset, 1, s) == 0) {
            req = gpiod_chip_request_lines(c, rc, lc);
        }
        e = errno;
    }
    if (s) gpiod_line_settings_free(s);
    if (lc) gpiod_line_config_free(lc);
    if (rc) gpiod_request_config_free(rc);
    gpiod_chip_close(c);
    if (!req) errno = e;
    return req;
}

static inline cpanic_gpio *cpanic_v2_wrap(struct gpiod_line_request *req, unsigned offset, size_t events) {
    if (!req) return NULL;
    cpanic_gpio *g = (cpanic_gpio *)calloc(1, sizeof(cpanic_gpio));
    g->req = req; g->offset = offset; g->buf = gpiod_edge_event_buffer_new(events);
    return g;
}

static inline cpanic_gpio *cpanic_gpio_request(const char *path, unsigned offset, int bias, int active_low, const char *consumer) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    if (s) {
        gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT);
        gpiod_line_settings_set_edge_detection(s, GPIOD_LINE_EDGE_BOTH);
        gpiod_line_settings_set_active_low(s, active_low != 0);
        gpiod_line_settings_set_event_clock(s, GPIOD_LINE_CLOCK_MONOTONIC);
        if (bias == CPANIC_BIAS_DISABLE) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_DISABLED);
        if (bias == CPANIC_BIAS_PULL_UP) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_UP);
        if (bias == CPANIC_BIAS_PULL_DOWN) gpiod_line_settings_set_bias(s, GPIOD_LINE_BIAS_PULL_DOWN);
    }
    return cpanic_v2_wrap(cpanic_v2_request(path, offset, s, consumer), offset, 16);
}

/// A line requested as an output (a lamp), driven to `initial` at once.
static inline cpanic_gpio *cpanic_gpio_request_output(const char *path, unsigned offset, int active_low, int initial, const char *consumer) {
    struct gpiod_line_settings *s = gpiod_line_settings_new();
    if (s) {
        gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_OUTPUT);
        gpiod_line_settings_set_active_low(s, active_low != 0);
        gpiod_line_settings_set_output_value(s, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
    }
    return cpanic_v2_wrap(cpanic_v2_request(path, offset, s, consumer), offset, 1);
}

static inline int cpanic_gpio_set(cpanic_gpio *g, int value) {
    return gpiod_line_request_set_value(g->req, g->offset, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
}

static inline int cpanic_gpio_fd(cpanic_gpio *g) { return gpiod_line_request_get_fd(g->req); }

static inline int cpanic_gpio_value(cpanic_gpio *g) {
    enum gpiod_line_value v = gpiod_line_request_get_value(g->req, g->offset);
    return v == GPIOD_LINE_VALUE_ERROR ? -1 : (v == GPIOD_LINE_VALUE_ACTIVE ? 1 : 0);
}

static inline int cpanic_gpio_read(cpanic_gpio *g, cpanic_gpio_event *out, int max) {
    if (max > 16) max = 16;
    int n = gpiod_line_request_read_edge_events(g->req, g->buf, (size_t)max);
    for (int i = 0; i < n; i++) {
        struct gpiod_edge_event *ev = gpiod_edge_event_buffer_get_event(g->buf, (unsigned long)i);
        out[i].timestamp_ns = (int64_t)gpiod_edge_event_get_timestamp_ns(ev);
        out[i].rising = gpiod_edge_event_get_event_type(ev) == GPIOD_EDGE_EVENT_RISING_EDGE ? 1 : 0;
    }
    return n;
}

static inline void cpanic_gpio_release(cpanic_gpio *g) {
    if (!g) return;
    gpiod_line_request_release(g->req);
    gpiod_edge_event_buffer_free(g->buf);
    free(g);
}
#endif

#endif
