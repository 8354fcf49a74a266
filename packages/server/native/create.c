/* `tidepool-helper create` (see the top of main.c): parses its options, clones init into new namespaces
 * and cgroups, writes its id maps, then stays as the sandbox's supervisor (exec-server.c). */
#include "compat.h"
#include "cli.h"
#include "create.h"
#include "disk.h"
#include "exec-server.h"

static void add_item(int *n, const char *flag) {
  if (*n >= MAX_ITEMS) {
    fprintf(stderr, "%s: too many %s options (max %d)\n", prog, flag, MAX_ITEMS);
    exit(2);
  }
  (*n)++;
}

/* A malformed list argument is a usage error: the message, exit 2. */
static void usage_error(const struct tp_err *e) {
  fprintf(stderr, "%s: %s\n", prog, e->msg);
  exit(2);
}

static int is_stream_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static void parse_opts(struct create_opts *o, int argc, char **argv) {
  struct tp_err e;
  o->uid_base = -1;
  o->id_count = -1;
  o->run_fd = -1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    char *v = argv[++i];
    if (!strcmp(a, "--id")) o->id = v;
    else if (!strcmp(a, "--root")) o->root = v;
    else if (!strcmp(a, "--overlay")) {
      add_item(&o->n_overlays, a);
      if (parse_overlay(&o->overlays[o->n_overlays - 1], v, &e) < 0) usage_error(&e);
    } else if (!strcmp(a, "--bind")) {
      add_item(&o->n_binds, a);
      if (parse_bind(&o->binds[o->n_binds - 1], v, &e) < 0) usage_error(&e);
    } else if (!strcmp(a, "--mask")) add_item(&o->n_masks, a), o->masks[o->n_masks - 1] = v;
    else if (!strcmp(a, "--cgroup-procs")) add_item(&o->n_cgroup_procs, a), o->cgroup_procs[o->n_cgroup_procs - 1] = v;
    else if (!strcmp(a, "--join-procs")) add_item(&o->n_join_procs, a), o->join_procs[o->n_join_procs - 1] = v;
    else if (!strcmp(a, "--exec-socket")) o->exec_socket = v;
    else if (!strcmp(a, "--run-fd")) o->run_fd = (int)parse_long(a, v);
    else if (!strcmp(a, "--cgroup-into")) o->cgroup_into = v;
    else if (!strcmp(a, "--uid-base")) o->uid_base = parse_long(a, v);
    else if (!strcmp(a, "--id-count")) o->id_count = parse_long(a, v);
    else if (!strcmp(a, "--disk-subvol")) o->disk_subvol = v;
    else if (!strcmp(a, "--disk-bytes")) o->disk_bytes = parse_long(a, v);
    else if (!strcmp(a, "--disk-from")) o->disk_from = v;
    else if (!strcmp(a, "--net")) {
      if (net_parse(&o->net, v, &e) < 0) usage_error(&e);
    }
    else usage();
  }
  if (!o->id || !o->root || (o->exec_socket != NULL) == (o->run_fd >= 0) || o->uid_base < 0 || o->id_count <= 0 || o->n_overlays == 0) usage();
  if (o->disk_from && !o->disk_subvol) {
    fprintf(stderr, "%s: --disk-from needs --disk-subvol\n", prog);
    exit(2);
  }
  if (o->run_fd >= 0 && (o->run_fd < 3 || !is_stream_socket(o->run_fd))) {
    fprintf(stderr, "%s: --run-fd must name an open stream socket above 2 (a socketpair end)\n", prog);
    exit(2);
  }
  if (strcmp(o->overlays[0].target, "/") != 0) {
    fprintf(stderr, "%s: the first --overlay must target /\n", prog);
    exit(2);
  }
  if (o->root[0] != '/') {
    fprintf(stderr, "%s: --root must be absolute\n", prog);
    exit(2);
  }
}

int create_main(int argc, char **argv) {
  static struct create_opts o;
  parse_opts(&o, argc, argv);
  if (o.disk_subvol) disk_create(&o);

  /* This process stays as the sandbox's supervisor and exec server. It joins the sandbox's resource
   * cgroups first: init and every exec handler fork from it and inherit them, so an exec never
   * migrates between v1 cgroups (each migration waits for an RCU grace period, ~10 ms). */
  for (int i = 0; i < o.n_join_procs; i++)
    if (write_file(o.join_procs[i], "0") < 0) fail("join cgroup %s", o.join_procs[i]);
  /* It is charged to the sandbox now: the OOM killer must pick the sandbox's hog, never its server. */
  write_file("/proc/self/oom_score_adj", "-1000");

  int go[2], status[2];
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(status, O_CLOEXEC) < 0) fail("pipe");
  signal(SIGPIPE, SIG_IGN);
  /* fork-like clone (no new stack) straight into the new namespaces (the user namespace comes last)
   * and, where there is a cgroup2 tree, into the sandbox's cgroup there. */
  const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  int into = -1, into_joined = 0;
  pid_t pid = -1;
  if (o.cgroup_into) {
    into = open(o.cgroup_into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into < 0) fail("open %s", o.cgroup_into);
    pid = clone_into(into, ns_flags);
    if (pid >= 0) into_joined = 1;
    else if (!clone_into_unsupported(errno)) fail("clone into new namespaces and %s", o.cgroup_into);
  }
  if (pid < 0) pid = (pid_t)syscall(SYS_clone, ns_flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) fail("clone into new namespaces");
  if (pid == 0) {
    close(go[1]);
    close(status[0]);
    signal(SIGPIPE, SIG_DFL);
    init_main(&o, go[0], status[1]);
    _exit(1);
  }
  close(go[0]);
  close(status[1]);

  /* From here on, any failure must take the half-built sandbox down with it. */
  char buf[1100];
  ssize_t r = 0;
  const char *step = "join cgroups";
  char sp[32];
  snprintf(sp, sizeof sp, "%d", (int)pid);
  for (int i = 0; i <= o.n_cgroup_procs; i++) {
    char into_procs[4200];
    const char *file = o.cgroup_procs[i];
    if (i == o.n_cgroup_procs) {
      if (!o.cgroup_into || into_joined) break;
      snprintf(into_procs, sizeof into_procs, "%s/cgroup.procs", o.cgroup_into); /* clone3 was not there */
      file = into_procs;
    }
    if (write_file(file, sp) < 0) {
      int e = errno;
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      errno = e;
      fail("join cgroup %s", file);
    }
  }
  if (into >= 0) close(into);
  /* The pair exists before init goes on, so init finds eth0 when it sets up its side. */
  if (o.net.enabled) {
    struct tp_err ne;
    if (net_host_setup(&o.net, pid, &ne) < 0) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      fprintf(stderr, "%s: set up the network: %s\n", prog, ne.msg);
      return 1;
    }
  }
  if (write_all(go[1], "g", 1) < 0) goto child_failed;
  step = "set up namespaces";
  do r = read(status[0], buf, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1 || buf[0] != 'U') goto child_failed;

  char map[64], mp[64];
  snprintf(map, sizeof map, "0 %ld %ld\n", o.uid_base, o.id_count);
  snprintf(mp, sizeof mp, "/proc/%d/uid_map", (int)pid);
  if (write_file(mp, map) < 0) {
    step = "write uid_map";
    goto parent_failed;
  }
  snprintf(mp, sizeof mp, "/proc/%d/gid_map", (int)pid);
  if (write_file(mp, map) < 0) {
    step = "write gid_map";
    goto parent_failed;
  }
  if (write_all(go[1], "g", 1) < 0) goto child_failed;
  step = "drop privileges";
  do r = read(status[0], buf, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1 || buf[0] != 'R') goto child_failed;
  close(go[1]);
  close(status[0]);
  int listen_fd = o.run_fd >= 0 ? -1 : listen_exec(o.exec_socket);
  if (listen_fd < 0 && o.run_fd < 0) {
    step = "listen for execs";
    goto parent_failed;
  }

  /* Named before the pid is announced: whoever learns of the sandbox from that line sees the supervisor by its name. */
  prctl(PR_SET_NAME, (unsigned long)"tidepool-sup", 0, 0, 0);
  printf("%d\n", (int)pid);
  fflush(stdout);
  /* Supervise: serve execs, and reap init when the sandbox is destroyed (so it never lingers as a zombie). */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  signal(SIGINT, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  if (o.run_fd >= 0) return run_one(o.run_fd, pid, o.uid_base);
  return serve_execs(listen_fd, pid, o.uid_base);

parent_failed: {
  int e = errno;
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  fprintf(stderr, "%s: %s: %s\n", prog, step, strerror(e));
  return 1;
}
child_failed: {
  /* The child reports "E<message>" on the status pipe before it exits. */
  size_t len = 0;
  if (r > 0) len = (size_t)r;
  for (;;) {
    r = read(status[0], buf + len, sizeof buf - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || len + (size_t)r >= sizeof buf - 1) break;
    len += (size_t)r;
  }
  buf[len] = 0;
  kill(pid, SIGKILL);
  int st2 = 0;
  waitpid(pid, &st2, 0);
  char *msg = buf;
  while (*msg == 'U' || *msg == 'R') msg++;
  if (*msg == 'E') {
    fprintf(stderr, "%s: %s", prog, msg + 1);
  } else {
    fprintf(stderr, "%s: %s: sandbox init exited during setup (%s %d)\n", prog, step,
            WIFSIGNALED(st2) ? "signal" : "status", WIFSIGNALED(st2) ? WTERMSIG(st2) : WEXITSTATUS(st2));
  }
  return 1;
}
}
