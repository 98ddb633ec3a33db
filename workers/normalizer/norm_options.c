/*
 * The normalizer's options as struct norm_options, from the one table that declares them
 * (options.c, bc_normalizer_type): either from validated topology values or from text
 * (`--option name=value` of the stage runtime), parsed and bounded the same way.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bc_options.h"
#include "normalize.h"

extern const struct bc_worker_type bc_normalizer_type;

size_t norm_option_count(void)
{
    size_t n = 0;
    while (bc_normalizer_type.options[n].name != NULL) {
        n++;
    }
    return n;
}

const char *norm_option_name(size_t i)
{
    return bc_normalizer_type.options[i].name;
}

const char *norm_option_default(size_t i)
{
    return bc_normalizer_type.options[i].def;
}

const char *norm_option_description(size_t i)
{
    return bc_normalizer_type.options[i].description;
}

void norm_options_free(struct norm_options *opts)
{
    if (opts == NULL) {
        return;
    }
    for (size_t i = 0; i < opts->correlation_count; i++) {
        free((char *)opts->correlation_attributes[i]);
    }
    free((void *)opts->correlation_attributes);
    free((char *)opts->event_id_field);
    opts->correlation_attributes = NULL;
    opts->correlation_count = 0;
    opts->event_id_field = NULL;
}

static char *dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (d == NULL) {
        abort();
    }
    return d;
}

static enum norm_format format_of(const char *s)
{
    return strcmp(s, "otlp") == 0    ? NORM_FORMAT_OTLP
           : strcmp(s, "event") == 0 ? NORM_FORMAT_EVENT
                                     : NORM_FORMAT_AUTO;
}

/* Splits a comma-separated list (items trimmed of spaces, empty items skipped). */
static void set_list(struct norm_options *opts, const char *const *items, size_t n,
                     const char *text)
{
    size_t cap = n;
    if (text != NULL) {
        cap = 1;
        for (const char *p = text; *p != '\0'; p++) {
            cap += *p == ',';
        }
    }
    const char **list = calloc(cap + 1, sizeof(*list));
    if (list == NULL) {
        abort();
    }
    size_t count = 0;
    if (text == NULL) {
        for (size_t i = 0; i < n; i++) {
            list[count++] = dup_or_die(items[i]);
        }
    } else {
        const char *p = text;
        while (*p != '\0') {
            const char *end = strchr(p, ',');
            size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
            const char *a = p, *b = p + len;
            while (a < b && *a == ' ') {
                a++;
            }
            while (b > a && b[-1] == ' ') {
                b--;
            }
            if (b > a) {
                char *item = strndup(a, (size_t)(b - a));
                if (item == NULL) {
                    abort();
                }
                list[count++] = item;
            }
            p = end != NULL ? end + 1 : p + len;
        }
    }
    opts->correlation_attributes = list;
    opts->correlation_count = count;
}

int norm_options_from_values(struct norm_options *opts, const struct bc_values *vals)
{
    norm_options_default(opts);
    opts->format = format_of(bc_values_str(vals, "format"));
    opts->max_clock_skew_ms = bc_values_int(vals, "max_clock_skew");
    opts->clamp_skew = bc_values_bool(vals, "clamp_skew");
    opts->max_payload_bytes = (size_t)bc_values_int(vals, "max_payload_bytes");
    opts->max_attributes = (size_t)bc_values_int(vals, "max_attributes");
    opts->max_attribute_value_length = (size_t)bc_values_int(vals, "max_attribute_value_length");
    size_t n = 0;
    const char *const *list = bc_values_list(vals, "correlation_attributes", &n);
    set_list(opts, list, n, NULL);
    const char *field = bc_values_str(vals, "event_id_field");
    opts->event_id_field = dup_or_die(field != NULL ? field : "");
    return 0;
}

/* Parses text as the option's type and checks its bounds. */
static int parse_one(const struct bc_option *o, const char *text, int64_t *i, char *errstr,
                     size_t errstr_size)
{
    int rc = 0;
    char *end = NULL;
    switch (o->type) {
    case BC_OPT_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
            *i = strcmp(text, "true") == 0;
            return 0;
        }
        snprintf(errstr, errstr_size, "option %s: '%s' is not true or false", o->name, text);
        return -1;
    case BC_OPT_INT:
        errno = 0;
        *i = strtoll(text, &end, 10);
        rc = errno != 0 || end == text || *end != '\0' ? -1 : 0;
        break;
    case BC_OPT_DURATION:
        rc = bc_duration_parse(text, i);
        break;
    case BC_OPT_SIZE:
        rc = bc_size_parse(text, i);
        break;
    case BC_OPT_ENUM:
        for (size_t k = 0; o->values[k] != NULL; k++) {
            if (strcmp(o->values[k], text) == 0) {
                return 0;
            }
        }
        snprintf(errstr, errstr_size, "option %s: '%s' is not one of the allowed values", o->name,
                 text);
        return -1;
    default:
        return 0;
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "option %s: cannot parse '%s'", o->name, text);
        return -1;
    }
    if ((o->min != 0 || o->max != 0) && (*i < o->min || *i > o->max)) {
        snprintf(errstr, errstr_size, "option %s: '%s' is out of bounds [%" PRId64 ", %" PRId64 "]",
                 o->name, text, o->min, o->max);
        return -1;
    }
    return 0;
}

int norm_options_from_text(struct norm_options *opts,
                           const char *(*get)(void *opaque, const char *name), void *opaque,
                           char *errstr, size_t errstr_size)
{
    norm_options_default(opts);
    opts->correlation_attributes = NULL;
    opts->event_id_field = NULL;
    const char *correlation = NULL, *field = "";
    for (const struct bc_option *o = bc_normalizer_type.options; o->name != NULL; o++) {
        const char *text = get != NULL ? get(opaque, o->name) : NULL;
        if (text == NULL) {
            text = o->def != NULL ? o->def : "";
        }
        int64_t i = 0;
        if (parse_one(o, text, &i, errstr, errstr_size) != 0) {
            set_list(opts, NULL, 0, "");
            opts->event_id_field = dup_or_die("");
            return -1;
        }
        if (strcmp(o->name, "format") == 0) {
            opts->format = format_of(text);
        } else if (strcmp(o->name, "max_clock_skew") == 0) {
            opts->max_clock_skew_ms = i;
        } else if (strcmp(o->name, "clamp_skew") == 0) {
            opts->clamp_skew = (int)i;
        } else if (strcmp(o->name, "max_payload_bytes") == 0) {
            opts->max_payload_bytes = (size_t)i;
        } else if (strcmp(o->name, "max_attributes") == 0) {
            opts->max_attributes = (size_t)i;
        } else if (strcmp(o->name, "max_attribute_value_length") == 0) {
            opts->max_attribute_value_length = (size_t)i;
        } else if (strcmp(o->name, "correlation_attributes") == 0) {
            correlation = text;
        } else if (strcmp(o->name, "event_id_field") == 0) {
            field = text;
        }
    }
    set_list(opts, NULL, 0, correlation != NULL ? correlation : "");
    opts->event_id_field = dup_or_die(field);
    return 0;
}
