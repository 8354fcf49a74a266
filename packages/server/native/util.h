/* Reporting failures, small I/O helpers and paths: what every other part of the helper uses. */
#ifndef TP_UTIL_H
#define TP_UTIL_H
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include "error-codes.h"

extern const char *prog;
/* In create's child the error goes to the status pipe (the parent reports it); else to stderr. */
extern int err_fd;
/* exec, mount: prefix messages with an error code ("<code>: <message>") and exit EXIT_SETUP. */
extern int err_prefix_code;
/* In an exec connection's handler, before the command runs: errors go to the client as an error frame. */
extern int err_frame_fd;

/* What a function that fails without exiting reports: the API code and a message (no trailing newline). */
struct tp_err {
  enum tp_code code;
  char msg[256];
};
int tp_errf(struct tp_err *e, enum tp_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One report line into msg (at most size bytes, newline included): "<prefix>: <message>[: <strerror>]\n",
 * or "<message>…" with prefix NULL. Returns its length. Pure. */
size_t format_report(char *msg, size_t size, const char *prefix, int errnum, const char *fmt, va_list ap);

/* Report "<step>: <strerror(errno)>" (code internal) and exit. */
void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...);
void __attribute__((noreturn, format(printf, 3, 4))) fail_code(enum tp_code code, int errnum, const char *fmt, ...);
/* fail_code with the code and message of e. */
void __attribute__((noreturn)) fail_err(const struct tp_err *e);

/* A non-negative decimal; -1 when s is not one. Pure. */
int parse_nonneg(const char *s, long *out);
/* parse_nonneg for a command-line flag: a bad value ends the helper with exit 2. */
long parse_long(const char *flag, const char *s);

int write_file(const char *path, const char *data);
int write_all(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);
void set_nonblock(int fd);
void mkdir_p(const char *path, mode_t mode);
void close_fds_except(int keep);
long long mono_ms(void);
/* /proc/PID/stat field 22 (starttime), or -1 when the process is gone or a zombie. */
long long proc_start_time(long pid);
/* An absolute path inside the sandbox other than /, without "." or ".." components or empty ones. Pure. */
int sandbox_path_ok(const char *p);
/* Parses the text of /proc/PID/stat: its starttime, or -1 (gone, zombie, malformed). Pure. */
long long stat_start_time(char *stat_text);
#endif
