/*
 * Structured logging: one line per event on stderr, as logfmt (default) or JSON.
 *
 *   bc_log(BC_LOG_INFO, "connection accepted", "peer", peer, "fd", fdstr, NULL);
 *
 * Arguments after the message are key/value string pairs ended by NULL. Values are quoted
 * and escaped as the format requires. Never pass secrets or record payloads (which may hold
 * PII) as values: log offsets, ids and reasons instead.
 */
#ifndef BC_LOG_H
#define BC_LOG_H

enum bc_log_level { BC_LOG_DEBUG = 0, BC_LOG_INFO = 1, BC_LOG_WARN = 2, BC_LOG_ERROR = 3 };
enum bc_log_format { BC_LOG_LOGFMT = 0, BC_LOG_JSON = 1 };

/* Sets the process-wide component name (borrowed: must outlive logging), lowest level
 * printed and format. Defaults: "breadcrumb", BC_LOG_INFO, BC_LOG_LOGFMT. */
void bc_log_setup(const char *component, enum bc_log_level level, enum bc_log_format format);

/* Parses "debug|info|warn|error" / "logfmt|json". Returns 0, or -1 when unknown. */
int bc_log_level_parse(const char *s, enum bc_log_level *level);
int bc_log_format_parse(const char *s, enum bc_log_format *format);

/* Writes one line when level is at least the configured level. The varargs are key/value
 * pairs of `const char *`, ended by NULL; a NULL value prints as an empty string. */
void bc_log(enum bc_log_level level, const char *msg, ...);

#endif
