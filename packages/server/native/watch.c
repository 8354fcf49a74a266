/* Watching processes with pidfds (see watch.h). */
#include "compat.h"
#include "util.h"
#include "watch.h"

/*
 * `tidepool-helper watch`: tells the control plane the moment a sandbox's init or supervisor exits,
 * with pidfds (no polling, no signal of a process that is not our child). Reads lines on stdin:
 *   "+<key> <pid> <starttime>"  watch a process (starttime from /proc/<pid>/stat guards against reuse)
 *   "-<key>"                    stop watching it
 * and writes "<key>\n" on stdout once a watched process has exited (at once when it is already gone or
 * is not the one starttime names). Ends when stdin closes (the control plane went away).
 */
#define MAX_WATCH 4096
#define WATCH_KEY 96
struct watched {
  char key[WATCH_KEY];
  int fd;
};

static void watch_report(const char *key) {
  char line[WATCH_KEY + 2];
  int n = snprintf(line, sizeof line, "%s\n", key);
  if (write_all(1, line, (size_t)n) < 0) _exit(0); /* the control plane is gone */
}

static void watch_line(char *line, struct watched *w, int *n) {
  if (line[0] == '-') {
    for (int k = 0; k < *n; k++) {
      if (strcmp(w[k].key, line + 1)) continue;
      close(w[k].fd);
      w[k] = w[--*n];
      return;
    }
    return;
  }
  char key[WATCH_KEY];
  long pid = 0;
  long long start = 0;
  if (line[0] != '+' || sscanf(line + 1, "%95s %ld %lld", key, &pid, &start) != 3 || pid <= 0) return;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  /* Checked after the pidfd is open: from then on the pid cannot be reused under us. */
  if (fd < 0 || proc_start_time(pid) != start || *n == MAX_WATCH) {
    if (fd >= 0) close(fd);
    watch_report(key);
    return;
  }
  snprintf(w[*n].key, WATCH_KEY, "%s", key);
  w[*n].fd = fd;
  (*n)++;
}

int watch_main(void) {
  static struct watched w[MAX_WATCH];
  static struct pollfd pf[1 + MAX_WATCH];
  static char buf[16384];
  size_t len = 0;
  int n = 0;
  signal(SIGPIPE, SIG_DFL);
  for (;;) {
    pf[0] = (struct pollfd){.fd = 0, .events = POLLIN};
    for (int k = 0; k < n; k++) pf[1 + k] = (struct pollfd){.fd = w[k].fd, .events = POLLIN};
    int count = n;
    if (poll(pf, (nfds_t)(1 + count), -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    /* Highest first: removing k moves the last entry (already looked at) into its place. */
    for (int k = count - 1; k >= 0; k--) {
      if (!pf[1 + k].revents) continue;
      watch_report(w[k].key);
      close(w[k].fd);
      w[k] = w[--n];
    }
    if (!pf[0].revents) continue;
    ssize_t r = read(0, buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    len += (size_t)r;
    char *p = buf, *nl;
    while ((nl = memchr(p, '\n', (size_t)(buf + len - p)))) {
      *nl = 0;
      watch_line(p, w, &n);
      p = nl + 1;
    }
    len -= (size_t)(p - buf);
    memmove(buf, p, len);
    if (len == sizeof buf - 1) len = 0; /* a line that long is not ours */
  }
}
