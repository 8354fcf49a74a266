/*
 * Unit tests of the helper's pure functions (no root, no namespaces): argument and path parsing, the
 * exec request and its framing, /proc/PID/stat, report formatting, hints, the error codes. Built and run
 * by src/runtime/local/native.test.ts; prints one line per failed check and exits 1 if any failed.
 * With -DTP_EXPECT_FAILURE one check is wrong on purpose (the vitest file proves failures are seen).
 */
#include "../compat.h"
#include "../args.h"
#include "../exec-command.h"
#include "../exec-request.h"
#include "../frame.h"
#include "../mounts.h"
#include "../port-forward.h"
#include "../snapshot-paths.h"
#include "../util.h"

static int failed, checks;
#define CHECK(cond)                                                               \
  do {                                                                            \
    checks++;                                                                     \
    if (!(cond)) failed++, printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
  } while (0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

static void test_overlay(void) {
  struct overlay o;
  struct tp_err e;
  CHECK(parse_overlay(&o, "/:/l1:/l2:/up:/work", &e) == 0);
  CHECK_STR(o.target, "/");
  CHECK_STR(o.lowers, "/l1:/l2");
  CHECK_STR(o.upper, "/up");
  CHECK_STR(o.work, "/work");
  CHECK(parse_overlay(&o, "/t:/l:/u:/w", &e) == 0 && !strcmp(o.lowers, "/l"));
  const char *bad[] = {"", "/t", "/t:/l", "/t:/l:/u", ":/l:/u:/w", "/t::/u:/w", "/t:/l::/w", "/t:/l:/u:"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    e.code = TP_ERR_INTERNAL;
    CHECK(parse_overlay(&o, bad[i], &e) == -1 && e.code == TP_ERR_INVALID_REQUEST);
  }
  CHECK(strstr(e.msg, "TARGET:LOWER") != NULL);
}

static int open_fds(void) {
  int n = 0;
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl(fd, F_GETFD) >= 0) n++;
  return n;
}

/* Layers named by descriptors, never by host path; a failure names the path and leaves no fd open. */
static void test_overlay_opts(void) {
  char dir[] = "/tmp/tidepool-unit-XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(!"mkdtemp");
    return;
  }
  char p[4][512];
  const char *names[4] = {"l1", "l2", "up", "work"};
  for (int k = 0; k < 4; k++) snprintf(p[k], sizeof p[k], "%s/%s", dir, names[k]), mkdir(p[k], 0700);
  char lowers[1100], opts[8192], failing[4096];
  snprintf(lowers, sizeof lowers, "%s:%s", p[0], p[1]);
  struct overlay ov = {.target = "/", .lowers = lowers, .upper = p[2], .work = p[3]};
  int fds[MAX_LAYER_FDS + 2], n = -1, before = open_fds();
  CHECK(overlay_opts(&ov, opts, sizeof opts, fds, &n, failing, sizeof failing) == OVERLAY_OK);
  CHECK(n == 4);
  char want[256];
  if (n == 4) {
    snprintf(want, sizeof want, "lowerdir=/proc/self/fd/%d:/proc/self/fd/%d,upperdir=/proc/self/fd/%d,workdir=/proc/self/fd/%d,xino=on", fds[0], fds[1], fds[2], fds[3]);
    CHECK_STR(opts, want);
    for (int k = 0; k < n; k++) close(fds[k]);
  }
  CHECK(strstr(opts, dir) == NULL);

  snprintf(lowers, sizeof lowers, "%s:%s/missing", p[0], dir);
  CHECK(overlay_opts(&ov, opts, sizeof opts, fds, &n, failing, sizeof failing) == OVERLAY_ERROR_OPEN_LAYER);
  CHECK(strstr(failing, "/missing") != NULL && errno == ENOENT && n == 0);
  CHECK(open_fds() == before);

  snprintf(lowers, sizeof lowers, "%s", p[0]);
  ov.work = "/nonexistent-work-dir";
  CHECK(overlay_opts(&ov, opts, sizeof opts, fds, &n, failing, sizeof failing) == OVERLAY_ERROR_OPEN_RW);
  CHECK_STR(failing, "/nonexistent-work-dir");
  CHECK(open_fds() == before);
  ov.work = p[3];

  char many[MAX_LAYER_FDS * 8 + 64] = "";
  for (int k = 0; k <= MAX_LAYER_FDS; k++) strcat(many, k ? ":/" : "/");
  ov.lowers = many;
  CHECK(overlay_opts(&ov, opts, sizeof opts, fds, &n, failing, sizeof failing) == OVERLAY_ERROR_TOO_MANY_LAYERS);
  CHECK(open_fds() == before);
  ov.lowers = lowers;
  CHECK(overlay_opts(&ov, opts, 24, fds, &n, failing, sizeof failing) == OVERLAY_ERROR_TOO_LONG);
  CHECK(open_fds() == before);

  for (int k = 3; k >= 0; k--) rmdir(p[k]);
  rmdir(dir);
}

static void test_bind(void) {
  struct bind b;
  struct tp_err e;
  CHECK(parse_bind(&b, "/src:/dst", &e) == 0 && !strcmp(b.src, "/src") && !strcmp(b.dst, "/dst") && !b.ro);
  CHECK(parse_bind(&b, "/src:/dst:ro", &e) == 0 && !strcmp(b.dst, "/dst") && b.ro);
  const char *bad[] = {"/src", ":/dst", "/src:", "/a:/b:/c", "/a:/b:rw"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(parse_bind(&b, bad[i], &e) == -1 && e.code == TP_ERR_INVALID_REQUEST);
}

static void test_paths(void) {
  CHECK(sandbox_path_ok("/workspace"));
  CHECK(sandbox_path_ok("/a/b.c/..d"));
  const char *bad[] = {"/", "", "relative", "/a//b", "/a/", "/a/./b", "/a/../b", "/..", "/."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(!sandbox_path_ok(bad[i]));
  char long_path[5000];
  memset(long_path, 'a', sizeof long_path - 1);
  long_path[0] = '/', long_path[sizeof long_path - 1] = 0;
  CHECK(!sandbox_path_ok(long_path));
}

static void test_numbers(void) {
  long v = -1;
  CHECK(parse_nonneg("0", &v) == 0 && v == 0);
  CHECK(parse_nonneg("1234", &v) == 0 && v == 1234);
  const char *bad[] = {"", "-1", "12x", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(parse_nonneg(bad[i], &v) == -1);
}

static void test_stat(void) {
  char live[] = "42 (a (b) c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
  CHECK(stat_start_time(live) == 98765);
  char zombie[] = "42 (x) Z 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
  CHECK(stat_start_time(zombie) == -1);
  char short_[] = "42 (x) S 1 2 3";
  CHECK(stat_start_time(short_) == -1);
  char noparen[] = "42 x S 1";
  CHECK(stat_start_time(noparen) == -1);
}

static void test_frames(void) {
  unsigned char hdr[FRAME_HDR];
  frame_header(hdr, 'o', 0x01020304);
  CHECK(hdr[0] == 'o' && hdr[1] == 4 && hdr[2] == 3 && hdr[3] == 2 && hdr[4] == 1);
  CHECK(get_le32(hdr + 1) == 0x01020304);
  put_le32(hdr + 1, 0xffffffffu);
  CHECK(get_le32(hdr + 1) == 0xffffffffu);
}

/* A request payload from NUL-separated fields written with '|' for readability. */
static size_t payload(char *buf, const char *fields) {
  size_t n = strlen(fields);
  memcpy(buf, fields, n);
  for (size_t i = 0; i < n; i++)
    if (buf[i] == '|') buf[i] = 0;
  return n;
}

static void test_request(void) {
  char buf[512];
  struct exec_req r;
  struct tp_err e;
  size_t n = payload(buf, "1000|1000|/home/user|/sys/fs/cgroup/x/e1|0|2|echo|hi|1|A=b|5000|1||");
  CHECK(parse_request(buf, n, &r, &e) == 0);
  CHECK(r.uid == 1000 && r.gid == 1000 && !strcmp(r.cwd, "/home/user") && !strcmp(r.clone_into, "/sys/fs/cgroup/x/e1"));
  CHECK(r.n_cgroup_procs == 0 && !strcmp(r.argv[0], "echo") && !strcmp(r.argv[1], "hi") && r.argv[2] == NULL);
  CHECK(!strcmp(r.envp[0], "A=b") && r.envp[1] == NULL && r.timeout_ms == 5000 && r.detached == 1 && !r.status_file[0]);
  char dir[256];
  exec_cgroup_dir(&r, dir, sizeof dir);
  CHECK_STR(dir, "/sys/fs/cgroup/x/e1");
  n = payload(buf, "0|0|/||1|/sys/fs/cgroup/pids/t/e2/cgroup.procs|1|true|0|0|0|/run/s|");
  CHECK(parse_request(buf, n, &r, &e) == 0 && r.n_cgroup_procs == 1 && !strcmp(r.status_file, "/run/s"));
  exec_cgroup_dir(&r, dir, sizeof dir);
  CHECK_STR(dir, "/sys/fs/cgroup/pids/t/e2");
  CHECK(r.pty_cols == 0 && r.pty_rows == 0); /* a client older than ptys sends no size */
  n = payload(buf, "0|0|/||0|1|bash|0|0|1||80|24|");
  CHECK(parse_request(buf, n, &r, &e) == 0 && r.pty_cols == 80 && r.pty_rows == 24);
  const char *bad[] = {
      "0|0|/||0|1|bash|0|0|1||80|0|",      /* a pty with no rows */
      "0|0|/||0|1|bash|0|0|1||70000|24|",  /* a pty too wide */
      "0|0|/||0|1|bash|0|0|1||80|",        /* cols without rows */
      "",                                  /* nothing */
      "1000|1000|/home/user|",             /* cut short */
      "x|0|/|/c|0|1|true|0|0|0|",          /* uid not a number */
      "0|-1|/|/c|0|1|true|0|0|0|",         /* negative gid */
      "0|0|/|/c|0|0|0|0|0||",              /* no argv */
      "0|0|rel|/c|0|1|true|0|0|0||",       /* relative cwd */
      "0|0|/|/c|0|3|a|b|",                 /* argv count past the end */
      "0|0|/|/c|0|1|true|0|0|0",           /* the last field has no NUL */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    n = payload(buf, bad[i]);
    e.code = TP_ERR_INTERNAL;
    int rc = parse_request(buf, n, &r, &e);
    CHECK(rc == -1 && e.code == TP_ERR_INVALID_REQUEST);
    if (rc != -1) printf("  accepted bad request %zu: %s\n", i, bad[i]);
  }
}

static size_t report(char *msg, size_t size, const char *prefix, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = format_report(msg, size, prefix, errnum, fmt, ap);
  va_end(ap);
  return n;
}

static void test_reports(void) {
  char msg[1024];
  size_t n = report(msg, sizeof msg, tp_code_str(TP_ERR_NOT_FOUND), 0, "sandbox init (pid %d) is gone", 7);
  msg[n] = 0;
  CHECK_STR(msg, "not_found: sandbox init (pid 7) is gone\n");
  n = report(msg, sizeof msg, "tidepool-helper", ENOENT, "open %s", "/x");
  msg[n] = 0;
  CHECK_STR(msg, "tidepool-helper: open /x: No such file or directory\n");
  n = report(msg, sizeof msg, NULL, 0, "plain");
  msg[n] = 0;
  CHECK_STR(msg, "plain\n");
  char huge[4000];
  memset(huge, 'x', sizeof huge - 1);
  huge[sizeof huge - 1] = 0;
  n = report(msg, sizeof msg, "internal", EACCES, "%s", huge);
  CHECK(n < sizeof msg && msg[n - 1] == '\n' && strstr(msg, "Permission denied") != NULL);
}

static void test_cwd_hints(void) {
  char msg[512];
  cwd_message(msg, sizeof msg, "/nope", ENOENT);
  CHECK(strstr(msg, "does not exist; create it first or pick an existing directory") != NULL);
  int others[] = {ENOTDIR, EACCES, ENAMETOOLONG, EIO};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    cwd_message(msg, sizeof msg, "/home/user/f", others[i]);
    CHECK(strncmp(msg, "cwd /home/user/f", 16) == 0);
    CHECK(strstr(msg, "create it first") == NULL); /* the hint fits a missing cwd only */
  }
  cwd_message(msg, sizeof msg, "/f", ENOTDIR);
  CHECK(strstr(msg, "is not a directory") != NULL);
  cwd_message(msg, sizeof msg, "/f", EACCES);
  CHECK(strstr(msg, "may not be entered") != NULL);
}

static void test_codes(void) {
  /* Every code has its own spelling; the vitest file compares the list with the SDK's. */
  for (int c = 0; c < TP_ERR__COUNT; c++) {
    printf("code %s\n", tp_code_str((enum tp_code)c));
    for (int d = 0; d < c; d++) CHECK(strcmp(tp_code_str((enum tp_code)c), tp_code_str((enum tp_code)d)) != 0);
  }
#ifdef TP_EXPECT_FAILURE
  CHECK(tp_code_str(TP_ERR_NOT_FOUND)[0] == 'x');
#endif
}

/* A snapshot keeps only upper/; its path splits into the dir the ioctl runs on and the subvolume name. */
static void test_snapshot_paths(void) {
  CHECK(snapshot_keeps("upper"));
  const char *dropped[] = {"init", "disk", "exec.sock", "execs", "merged", "work", "upper2", ""};
  for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) CHECK(!snapshot_keeps(dropped[i]));
  char dir[64];
  const char *name = NULL;
  CHECK(split_subvol_path("/p/.snapshots/snp_1", dir, sizeof dir, &name) == 0);
  CHECK_STR(dir, "/p/.snapshots");
  CHECK_STR(name, "snp_1");
  const char *bad[] = {"snp_1", "/snp_1", "/p/", ""};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(split_subvol_path(bad[i], dir, sizeof dir, &name) == -1);
  char tiny[8];
  CHECK(split_subvol_path("/a/very/long/path/x", tiny, sizeof tiny, &name) == -1);
  char longname[300];
  memset(longname, 'n', sizeof longname);
  longname[0] = '/', longname[1] = 'p', longname[2] = '/', longname[sizeof longname - 1] = 0;
  char big[512];
  CHECK(split_subvol_path(longname, big, sizeof big, &name) == -1);
}

/* The port a port-forward request names: digits only, 1-65535. */
static void test_port_request(void) {
  CHECK(parse_port_request("8080", 4) == 8080);
  CHECK(parse_port_request("1", 1) == 1);
  CHECK(parse_port_request("65535", 5) == 65535);
  CHECK(parse_port_request("0", 1) == -1);
  CHECK(parse_port_request("65536", 5) == -1);
  CHECK(parse_port_request("", 0) == -1);
  CHECK(parse_port_request("80a", 3) == -1);
  CHECK(parse_port_request("-80", 3) == -1);
  CHECK(parse_port_request("000080", 6) == -1);
}

int main(void) {
  test_overlay();
  test_bind();
  test_overlay_opts();
  test_paths();
  test_numbers();
  test_stat();
  test_frames();
  test_request();
  test_reports();
  test_cwd_hints();
  test_codes();
  test_snapshot_paths();
  test_port_request();
  printf("%d checks, %d failed\n", checks, failed);
  return failed ? 1 : 0;
}
