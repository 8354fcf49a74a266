/* Parsing an exec request (see exec-request.h). */
#include "compat.h"
#include "exec-request.h"
#include "frame.h"

/* The next NUL-terminated field, or NULL (e set) when the payload ends first. */
static char *next_field(char **p, char *end, struct tp_err *e) {
  char *s = *p;
  char *nul = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
  if (!nul) {
    tp_errf(e, TP_ERR_INVALID_REQUEST, "malformed exec request (a field is missing)");
    return NULL;
  }
  *p = nul + 1;
  return s;
}

static int next_long(char **p, char *end, const char *what, long *out, struct tp_err *e) {
  char *s = next_field(p, end, e);
  if (!s) return -1;
  if (parse_nonneg(s, out) < 0) return tp_errf(e, TP_ERR_INVALID_REQUEST, "malformed exec request (%s is \"%.64s\")", what, s);
  return 0;
}

/* A count, then that many fields: a NULL-terminated array pointing into the request. */
static char **next_list(char **p, char *end, const char *what, long *count, struct tp_err *e) {
  long n;
  if (next_long(p, end, what, &n, e) < 0) return NULL;
  if (n > MAX_REQUEST / 2) {
    tp_errf(e, TP_ERR_INVALID_REQUEST, "malformed exec request (%ld %s)", n, what);
    return NULL;
  }
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) {
    tp_errf(e, TP_ERR_INTERNAL, "calloc: out of memory");
    return NULL;
  }
  for (long k = 0; k < n; k++)
    if (!(list[k] = next_field(p, end, e))) {
      free(list);
      return NULL;
    }
  *count = n;
  return list;
}

int parse_request(char *buf, size_t len, struct exec_req *r, struct tp_err *e) {
  char *p = buf, *end = buf + len;
  long argc = 0, envc = 0;
  memset(r, 0, sizeof *r);
  if (next_long(&p, end, "uid", &r->uid, e) < 0 || next_long(&p, end, "gid", &r->gid, e) < 0) return -1;
  if (!(r->cwd = next_field(&p, end, e)) || !(r->clone_into = next_field(&p, end, e))) return -1;
  if (!(r->cgroup_procs = next_list(&p, end, "cgroup files", &r->n_cgroup_procs, e))) return -1;
  if (!(r->argv = next_list(&p, end, "arguments", &argc, e))) return -1;
  if (!(r->envp = next_list(&p, end, "environment entries", &envc, e))) return -1;
  if (next_long(&p, end, "timeout", &r->timeout_ms, e) < 0 || next_long(&p, end, "detached", &r->detached, e) < 0) return -1;
  if (!(r->status_file = next_field(&p, end, e))) return -1;
  if (p < end && (next_long(&p, end, "pty columns", &r->pty_cols, e) < 0 || next_long(&p, end, "pty rows", &r->pty_rows, e) < 0)) return -1;
  if ((r->pty_cols > 0) != (r->pty_rows > 0) || r->pty_cols > 65535 || r->pty_rows > 65535)
    return tp_errf(e, TP_ERR_INVALID_REQUEST, "malformed exec request (pty size %ldx%ld)", r->pty_cols, r->pty_rows);
  if (argc == 0 || r->cwd[0] != '/' || r->n_cgroup_procs > MAX_ITEMS)
    return tp_errf(e, TP_ERR_INVALID_REQUEST, "malformed exec request (argv, cwd or cgroup files)");
  return 0;
}

void read_request(int conn, struct exec_req *r) {
  unsigned char hdr[FRAME_HDR];
  if (read_full(conn, hdr, FRAME_HDR) < 0) _exit(1);
  uint32_t len = get_le32(hdr + 1);
  if (hdr[0] != 'q' || len > MAX_REQUEST)
    fail_code(TP_ERR_INVALID_REQUEST, 0, "an exec connection starts with a request of at most %d bytes", MAX_REQUEST);
  char *buf = malloc((size_t)len + 1);
  if (!buf) fail("malloc");
  if (read_full(conn, buf, len) < 0) _exit(1);
  struct tp_err e;
  if (parse_request(buf, len, r, &e) < 0) fail_err(&e);
}

/* Its own exec cgroup on hosts without cgroup2 is the directory of the first cgroup.procs file. */
void exec_cgroup_dir(const struct exec_req *r, char *dir, size_t size) {
  dir[0] = 0;
  if (r->clone_into[0]) {
    snprintf(dir, size, "%s", r->clone_into);
  } else if (r->n_cgroup_procs > 0) {
    snprintf(dir, size, "%s", r->cgroup_procs[0]);
    char *slash = strrchr(dir, '/');
    if (slash && !strcmp(slash, "/cgroup.procs")) *slash = 0;
    else dir[0] = 0;
  }
}
