/* Reporting failures ("<code>: <message>" or "tidepool-helper: <message>"), I/O helpers, paths. */
#include "compat.h"
#include "frame.h"
#include "util.h"

const char *prog = "tidepool-helper";
int err_fd = 2;
int err_prefix_code = 0;
int err_frame_fd = -1;

int tp_errf(struct tp_err *e, enum tp_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  e->code = code;
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

size_t format_report(char *msg, size_t size, const char *prefix, int errnum, const char *fmt, va_list ap) {
  int n = 0;
  if (size < 128) return 0;
  if (prefix) n = snprintf(msg, size, "%s: ", prefix);
  n += vsnprintf(msg + n, size - (size_t)n, fmt, ap);
  if (n >= (int)size - 64) n = (int)size - 64;
  if (errnum) n += snprintf(msg + n, size - (size_t)n, ": %s", strerror(errnum));
  if (n >= (int)size - 1) n = (int)size - 2;
  msg[n++] = '\n';
  return (size_t)n;
}

static void vreport(enum tp_code code, int errnum, const char *fmt, va_list ap) {
  char msg[1024];
  size_t n;
  if (err_prefix_code) n = format_report(msg, sizeof msg, tp_code_str(code), errnum, fmt, ap);
  else if (err_fd == 2) n = format_report(msg, sizeof msg, prog, errnum, fmt, ap);
  else {
    msg[0] = 'E'; /* create's status pipe: "E<message>" */
    n = 1 + format_report(msg + 1, sizeof msg - 1, NULL, errnum, fmt, ap);
  }
  if (err_frame_fd >= 0) {
    send_frame(err_frame_fd, 'E', msg, n);
    linger_close(err_frame_fd, 2000); /* the caller exits next */
    return;
  }
  ssize_t w = write(err_fd, msg, n);
  (void)w;
}

void fail(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport(TP_ERR_INTERNAL, e, fmt, ap);
  va_end(ap);
  _exit(err_prefix_code ? EXIT_SETUP : 1);
}

void fail_code(enum tp_code code, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(code, errnum, fmt, ap);
  va_end(ap);
  _exit(err_prefix_code ? EXIT_SETUP : 1);
}

void fail_err(const struct tp_err *e) {
  fail_code(e->code, 0, "%s", e->msg);
}

int parse_nonneg(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < 0) return -1;
  *out = v;
  return 0;
}

long parse_long(const char *flag, const char *s) {
  long v;
  if (parse_nonneg(s, &v) < 0) {
    fprintf(stderr, "%s: %s expects a non-negative integer (got \"%s\")\n", prog, flag, s);
    exit(2);
  }
  return v;
}
int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(data);
  ssize_t w = write(fd, data, len);
  int e = errno;
  close(fd);
  if (w != (ssize_t)len) {
    errno = w < 0 ? e : EIO;
    return -1;
  }
  return 0;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        if (poll(&pf, 1, -1) < 0 && errno != EINTR) return -1;
        continue;
      }
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

int read_full(int fd, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t r = read(fd, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}


void mkdir_p(const char *path, mode_t mode) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    fail("mkdir %s", path);
  }
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) fail("mkdir %s", tmp);
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) fail("mkdir %s", tmp);
}


void close_fds_except(int keep) {
  /* close_range is Linux 5.9+; fall back to a loop over the usual range. */
  if (keep > 3 && syscall(SYS_close_range, 3, keep - 1, 0) < 0)
    for (int fd = 3; fd < keep; fd++) close(fd);
  if (syscall(SYS_close_range, keep + 1, ~0U, 0) < 0)
    for (int fd = keep + 1; fd < 1024; fd++) close(fd);
}


long long mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

long long stat_start_time(char *buf) {
  char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!p || p[1] != ' ') return -1;
  p += 2;
  if (*p == 'Z' || *p == 'X') return -1;
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  char *end;
  long long v = strtoll(p, &end, 10);
  return end == p ? -1 : v;
}

long long proc_start_time(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return stat_start_time(buf);
}

/* An absolute path inside the sandbox other than /, without "." or ".." components or empty ones. */
int sandbox_path_ok(const char *p) {
  if (p[0] != '/' || p[1] == 0 || strlen(p) >= 4096) return 0;
  for (const char *c = p; *c;) {
    const char *seg = c + 1, *end = strchrnul(seg, '/');
    size_t len = (size_t)(end - seg);
    if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
    c = end;
  }
  return 1;
}

