/* The sandbox's init (PID 1 of its namespaces): mounts its root, pivots into it, drops privileges and
 * reaps orphans. Talks to its parent over two pipes: "go" from it, status bytes ('U', 'R', "E<msg>") to it. */
#include "compat.h"
#include "cli.h"
#include "create.h"
#include "mounts.h"
#include "seccomp.h"

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) fail("socket for lo");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) fail("get flags of lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) fail("bring lo up");
  close(s);
}

static void drop_capabilities(void) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) < 0) fail("capset (drop all)");
}

/* Show as "tidepool-init" in ps instead of the host paths of the create command line. */
static void set_init_title(void) {
  char *start = g_argv[0];
  char *end = g_argv[g_argc - 1] + strlen(g_argv[g_argc - 1]);
  static const char title[] = "tidepool-init";
  if ((size_t)(end - start) < sizeof title) return;
  memset(start, 0, (size_t)(end - start));
  memcpy(start, title, sizeof title);
  /* Shrink the visible argument area; needs CAP_SYS_RESOURCE, which init still has here. */
  prctl(PR_SET_MM, PR_SET_MM_ARG_END, (unsigned long)(start + sizeof title), 0, 0);
  prctl(PR_SET_NAME, (unsigned long)"tidepool-init", 0, 0, 0);
}

static void read_go(int fd) {
  char c;
  ssize_t r = 0;
  do r = read(fd, &c, 1);
  while (r < 0 && errno == EINTR);
  if (r != 1) _exit(1); /* the parent is gone */
}

static void send_status(int fd, char c) {
  if (write_all(fd, &c, 1) < 0) _exit(1);
}

void init_main(struct create_opts *o, int go_fd, int status_fd) {
  err_fd = status_fd;
  read_go(go_fd); /* the parent has moved us into the sandbox's cgroups */
  if (unshare(CLONE_NEWCGROUP) < 0) fail("unshare(CLONE_NEWCGROUP)");
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail("make / private");

  char path[4096];
  for (int i = 0; i < o->n_overlays; i++) {
    struct overlay *ov = &o->overlays[i];
    int is_root = strcmp(ov->target, "/") == 0;
    snprintf(path, sizeof path, "%s%s", o->root, is_root ? "" : ov->target);
    if (!is_root) mkdir_p(path, 0755);
    char opts[8192];
    char failing[4096];
    int fds[MAX_LAYER_FDS + 2], n_fds = 0;
    overlay_result res = overlay_opts(ov, opts, sizeof opts, fds, &n_fds, failing, sizeof failing);
    if (res != OVERLAY_OK) die_with_overlay_result(res, errno, ov, failing);
    if (mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) fail("mount overlay on %s", ov->target);
    for (int k = 0; k < n_fds; k++) close(fds[k]);
  }
  for (int i = 0; i < o->n_binds; i++) {
    struct bind *b = &o->binds[i];
    struct stat st;
    if (stat(b->src, &st) < 0) fail("bind source %s", b->src);
    snprintf(path, sizeof path, "%s%s", o->root, b->dst);
    ensure_mountpoint(path, S_ISDIR(st.st_mode));
    if (mount(b->src, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind %s on %s", b->src, b->dst);
    if (b->ro && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
      fail("remount %s read-only", b->dst);
  }

  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching it leaves only the new. */
  if (chdir(o->root) < 0) fail("chdir %s", o->root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail("pivot_root %s", o->root);
  if (umount2(".", MNT_DETACH) < 0) fail("detach the old root");
  if (chdir("/") < 0) fail("chdir /");
  umask(0);

  /* Everything below resolves inside the sandbox's own root. */
  mkdir_p("/proc", 0555);
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) fail("mount proc on /proc");
  setup_dev(o->uid_base);
  /* Per network namespace: let root inside bind low ports and anyone ping, before /proc/sys turns read-only. */
  write_file("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0");
  write_file("/proc/sys/net/ipv4/ping_group_range", "0 2147483647");
  if (o->net.enabled) {
    struct tp_err ne;
    if (net_sandbox_setup(&o->net, &ne) < 0) fail_err(&ne);
  }
  static const char *proc_masks[] = {"/proc/kcore",        "/proc/keys",  "/proc/timer_list", "/proc/sched_debug",
                                     "/proc/latency_stats", "/proc/acpi", "/proc/scsi",       "/proc/asound",
                                     "/proc/sysrq-trigger", "/proc/cmdline"};
  for (size_t i = 0; i < sizeof proc_masks / sizeof proc_masks[0]; i++) mask_path(proc_masks[i]);
  hide_host_proc();
  static const char *proc_ro[] = {"/proc/sys", "/proc/irq", "/proc/bus", "/proc/fs"};
  for (size_t i = 0; i < sizeof proc_ro / sizeof proc_ro[0]; i++) {
    struct stat st;
    if (stat(proc_ro[i], &st) == 0) bind_ro(proc_ro[i], MS_NOSUID | MS_NODEV | MS_NOEXEC);
  }
  for (int i = 0; i < o->n_masks; i++) mask_path(o->masks[i]);

  if (sethostname(o->id, strlen(o->id)) < 0) fail("sethostname %s", o->id);
  loopback_up();
  /* The OOM killer should pick a sandbox's memory hog, never its init (which would end the sandbox). */
  write_file("/proc/self/oom_score_adj", "-1000");

  /* Every other namespace is owned by the host's user namespace, so root in this one holds no
   * capability over mounts, network, hostname or the cgroup tree. */
  if (unshare(CLONE_NEWUSER) < 0) fail("unshare(CLONE_NEWUSER)");
  send_status(status_fd, 'U');
  read_go(go_fd); /* uid_map and gid_map are written */
  if (setgroups(0, NULL) < 0) fail("setgroups");
  if (setresgid(0, 0, 0) < 0) fail("setresgid 0");
  if (setresuid(0, 0, 0) < 0) fail("setresuid 0");
  set_init_title();
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("prctl(PR_SET_DUMPABLE)");
  drop_capabilities();
  install_seccomp();
  close_fds_except(status_fd);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) fail("open /dev/null");
  if (dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) fail("dup2 /dev/null");
  close(null);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  send_status(status_fd, 'R');
  close(status_fd);
  err_fd = -1;
  /* Reap orphans until killed: the host ends a sandbox with SIGKILL (PID 1 of a namespace ignores
   * signals it has no handler for from inside it). */
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    siginfo_t si;
    sigwaitinfo(&set, &si);
  }
}
