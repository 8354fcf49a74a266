/*
 * tidepool-helper: the privileged half of tidepool's local Linux runtime.
 *
 * One file, no dependencies, built by scripts/build-native.mjs. Subcommands:
 *
 *   tidepool-helper create --id ID --root DIR [--overlay TARGET:LOWER[:LOWER2...]:UPPER:WORK]...
 *       [--bind SRC:DST[:ro]]... [--mask PATH]... [--cgroup-into DIR] [--cgroup-procs FILE]...
 *       [--join-procs FILE]... --exec-socket PATH --uid-base N --id-count N
 *
 *     Starts a sandbox's init (PID 1 of new mount, pid, net, ipc, uts and cgroup namespaces, then a
 *     user namespace mapping 0..id-count to uid-base..) and prints its host pid on stdout once it is
 *     ready for exec. This process first joins the --join-procs cgroups (the sandbox's v1 resource
 *     cgroups), so init and everything forked later inherit them; init is cloned straight into the
 *     --cgroup-into cgroup2 directory and joins the --cgroup-procs ones. Failure: one line on stderr
 *     naming the step and errno, exit 1.
 *
 *     After printing the pid this process stays as the sandbox's supervisor: it reaps init (so a dead
 *     sandbox never lingers as a zombie on hosts whose PID 1 does not reap orphans), and it serves
 *     execs on the Unix socket --exec-socket (owner-only; a peer of another uid is refused), forking a
 *     handler per connection. A handler reads one request (uid, gid, cwd, a cgroup2 directory to clone
 *     the command into or cgroup.procs files to join, argv, environment), clones the command into
 *     init's pid namespace and that cgroup, where it enters the sandbox's other namespaces, drops to
 *     uid/gid under seccomp and execs; the handler relays its stdio as frames (real pipes inside, so
 *     /dev/stdout and friends work) and ends with its exit code (128+signal), or with
 *     "<code>: <message>" when it could not start (code is not_found | invalid_request | conflict |
 *     internal). A command that cannot be found exits 127, one that cannot be executed 126, each with
 *     a message on stderr. The environment never shows in host `ps`. The frames are described where
 *     the exec server begins below. The supervisor exits once init has.
 *
 *     With --disk-subvol PATH --disk-bytes N (first of all) PATH, in a btrfs pool with quotas on,
 *     becomes a new subvolume whose qgroup may hold at most N bytes (referenced and exclusive; a write
 *     past it fails with EDQUOT), recorded in PATH/disk as "<subvolume id> <N>"; then the directories
 *     of every --overlay's upper and work and of --root are made in it, and the root overlay's upper
 *     is given to the sandbox's root (uid-base). The sandbox only sees its layer through overlayfs,
 *     which passes no btrfs ioctl on: it can neither make a subvolume (an own qgroup) nor lift a limit.
 *
 *   tidepool-helper disk-limit --path PATH --bytes N
 *   tidepool-helper disk-pool --path MOUNT
 *
 *     disk-limit sets the qgroup limit of the subvolume at PATH to N bytes (0: none) and updates
 *     PATH/disk. disk-pool turns quotas on in the btrfs filesystem mounted at MOUNT (simple quotas
 *     where the kernel has them, Linux 6.7+, else full qgroups). Failure: a message on stderr, exit 1.
 *
 *   tidepool-helper mount --pid PID --start-time T --source DIR --target PATH [--ro]
 *   tidepool-helper umount --pid PID --start-time T --target PATH
 *
 *     Hot-mounts host directory DIR at PATH inside the running sandbox whose init is PID (started at
 *     T, /proc/PID/stat field 22), and only there; umount detaches it again. The mount is cloned with
 *     open_tree() here in the host's mount namespace (nosuid, nodev, private, read-only with --ro),
 *     then this process enters the sandbox's mount namespace and root (as host root: the namespace is
 *     owned by the host's user namespace), creates PATH (owned by the sandbox's root, 0755) and
 *     attaches the clone with move_mount(). Idempotent: the same DIR already at PATH is left as it is;
 *     umount of a path that is no mount point succeeds. Needs Linux 5.2+. No seccomp filter here: the
 *     sandbox's own processes are the ones that must never mount. Failure: one line
 *     "<code>: <message>" on stderr (code is not_found | invalid_request | runtime_unavailable |
 *     internal), exit 125.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/btrfs.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/time.h>
#include <time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <grp.h>
#include <stdint.h>
#include <sys/statvfs.h>

#ifndef MNT_DETACH
#define MNT_DETACH 2
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef PR_SET_MM
#define PR_SET_MM 35
#endif
#ifndef PR_SET_MM_ARG_END
#define PR_SET_MM_ARG_END 9
#endif

/* The new mount API (Linux 5.2+; mount_setattr 5.12+). The numbers are the same on x86_64 and aarch64;
 * defined here so neither old headers nor a C library without wrappers matter. */
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#define TP_OPEN_TREE_CLONE 1
#define TP_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define TP_MOUNT_ATTR_RDONLY 0x00000001
#define TP_MOUNT_ATTR_NOSUID 0x00000002
#define TP_MOUNT_ATTR_NODEV 0x00000004
#ifndef UMOUNT_NOFOLLOW
#define UMOUNT_NOFOLLOW 8
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
struct tp_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

/* clone3 with CLONE_INTO_CGROUP (Linux 5.7+), defined here so old headers do not matter. */
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#define TP_CLONE_INTO_CGROUP 0x200000000ULL
struct tp_clone_args {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

/* A fork-like clone3 (no new stack) straight into the cgroup2 directory `cgroup_fd`: no migration, which
 * on a v1 or hybrid host costs an RCU grace period (~10 ms). -1 with errno ENOSYS, E2BIG or EINVAL where
 * the kernel lacks it (Linux < 5.7); the caller then forks and writes cgroup.procs. */
static pid_t clone_into(int cgroup_fd, uint64_t flags) {
  struct tp_clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.flags = flags | TP_CLONE_INTO_CGROUP;
  ca.exit_signal = SIGCHLD;
  ca.cgroup = (uint64_t)cgroup_fd;
  return (pid_t)syscall(__NR_clone3, &ca, sizeof ca);
}

static int clone_into_unsupported(int err) {
  return err == ENOSYS || err == E2BIG || err == EINVAL;
}

#define MAX_ITEMS 64
#define EXIT_SETUP 125

extern char **environ;

static const char *prog = "tidepool-helper";
/* In create's child the error goes to the status pipe (the parent reports it); else to stderr. */
static int err_fd = 2;
static int err_prefix_code = 0; /* exec, mount: prefix messages with an error code ("<code>: <message>") */
/* In an exec connection's handler, before the command runs: errors go to the client as an error frame. */
static int err_frame_fd = -1;
static void send_frame(int fd, char type, const void *data, size_t len);
static void linger_close(int fd, int timeout_ms);

static void vreport(const char *code, int errnum, const char *fmt, va_list ap) {
  char msg[1024];
  int n = 0;
  if (err_prefix_code) n = snprintf(msg, sizeof msg, "%s: ", code);
  else if (err_fd == 2) n = snprintf(msg, sizeof msg, "%s: ", prog);
  else n = snprintf(msg, sizeof msg, "E");
  n += vsnprintf(msg + n, sizeof msg - n, fmt, ap);
  if (n >= (int)sizeof msg - 64) n = sizeof msg - 64;
  if (errnum) n += snprintf(msg + n, sizeof msg - n, ": %s", strerror(errnum));
  msg[n++] = '\n';
  if (err_frame_fd >= 0) {
    send_frame(err_frame_fd, 'E', msg, (size_t)n);
    linger_close(err_frame_fd, 2000); /* the caller exits next */
    return;
  }
  ssize_t w = write(err_fd, msg, n);
  (void)w;
}

/* Report "<step>: <strerror(errno)>" and exit. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport("internal", e, fmt, ap);
  va_end(ap);
  _exit(err_prefix_code ? EXIT_SETUP : 1);
}

static void __attribute__((noreturn, format(printf, 3, 4))) fail_code(const char *code, int errnum, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(code, errnum, fmt, ap);
  va_end(ap);
  _exit(err_prefix_code ? EXIT_SETUP : 1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: %s create --id ID --root DIR [--overlay T:L[:L...]:U:W]... [--bind S:D[:ro]]...\n"
          "         [--mask PATH]... [--cgroup-into DIR] [--cgroup-procs FILE]... [--join-procs FILE]...\n"
          "         --exec-socket PATH\n"
          "         --uid-base N --id-count N [--disk-subvol PATH --disk-bytes N]\n"
          "       %s disk-limit --path PATH --bytes N\n"
          "       %s disk-pool --path MOUNT\n"
          "       %s mount --pid PID --start-time T --source DIR --target PATH [--ro]\n"
          "       %s umount --pid PID --start-time T --target PATH\n",
          prog, prog, prog, prog, prog);
  exit(2);
}

static long parse_long(const char *flag, const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || end == s || v < 0) {
    fprintf(stderr, "%s: %s expects a non-negative integer (got \"%s\")\n", prog, flag, s);
    exit(2);
  }
  return v;
}

static int write_file(const char *path, const char *data) {
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

static int write_all(int fd, const void *buf, size_t len) {
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

/* ---------------------------------------------------------------- seccomp */

#if defined(__x86_64__)
#define AUDIT_ARCH_CURRENT AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_CURRENT AUDIT_ARCH_AARCH64
#else
#error "tidepool-helper: unsupported architecture (x86_64 and aarch64 only)"
#endif

/* Syscalls that let a process reach beyond its sandbox: kernel modules and kexec, keyrings, mounts and
 * namespaces, clocks, swap, reboot, hostname, BPF and perf, userfaultfd, file handles, io_uring (it
 * bypasses this filter), raw I/O ports and the kernel log. Everything else is allowed. */
static const int denied_syscalls[] = {
#ifdef __NR_kexec_load
    __NR_kexec_load,
#endif
#ifdef __NR_kexec_file_load
    __NR_kexec_file_load,
#endif
    __NR_init_module, __NR_finit_module, __NR_delete_module, __NR_add_key, __NR_request_key, __NR_keyctl,
    __NR_mount, __NR_umount2, __NR_pivot_root, __NR_swapon, __NR_swapoff, __NR_reboot, __NR_settimeofday,
    __NR_clock_settime, __NR_clock_adjtime, __NR_adjtimex, __NR_sethostname, __NR_setdomainname,
    __NR_unshare, __NR_setns, __NR_bpf, __NR_perf_event_open, __NR_userfaultfd, __NR_open_by_handle_at,
    __NR_name_to_handle_at, __NR_acct, __NR_quotactl, __NR_syslog, __NR_vhangup,
#ifdef __NR_lookup_dcookie
    __NR_lookup_dcookie,
#endif
#ifdef __NR_iopl
    __NR_iopl,
#endif
#ifdef __NR_ioperm
    __NR_ioperm,
#endif
#ifdef __NR_uselib
    __NR_uselib,
#endif
#ifdef __NR__sysctl
    __NR__sysctl,
#endif
#ifdef __NR_io_uring_setup
    __NR_io_uring_setup, __NR_io_uring_enter, __NR_io_uring_register,
#endif
#ifdef __NR_open_tree
    /* the new mount API */
    __NR_open_tree, __NR_move_mount, __NR_fsopen, __NR_fsconfig, __NR_fsmount, __NR_fspick,
#endif
#ifdef __NR_mount_setattr
    __NR_mount_setattr,
#endif
#ifdef __NR_quotactl_fd
    __NR_quotactl_fd,
#endif
    467, /* open_tree_attr (6.15+; same number on x86_64 and aarch64) */
};

#define CLONE_NS_FLAGS \
  (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET)

static void install_seccomp(void) {
  struct sock_filter f[160];
  unsigned n = 0;
#define EMIT(x) (f[n++] = (struct sock_filter)x)
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_CURRENT, 1, 0));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#ifdef __x86_64__
  /* x32 ABI calls carry this bit and alias the x86_64 numbers: refuse them all. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U /* __X32_SYSCALL_BIT */, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
#endif
  for (size_t i = 0; i < sizeof denied_syscalls / sizeof denied_syscalls[0]; i++) {
    EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)denied_syscalls[i], 0, 1));
    EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  }
#ifdef __NR_clone3
  /* clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc fall back to clone. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
#endif
  /* No AF_VSOCK sockets: vsock is not confined by network namespaces and reaches the hypervisor. */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 4));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 40 /* AF_VSOCK */, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  /* clone is fine, unless it asks for a new namespace (flags are args[0]; low word on LE). */
  EMIT(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 3));
  EMIT(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])));
  EMIT(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NS_FLAGS, 0, 1));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM));
  EMIT(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
#undef EMIT
  struct sock_fprog prog_ = {.len = (unsigned short)n, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail("prctl(PR_SET_NO_NEW_PRIVS)");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog_) < 0) fail("seccomp(SET_MODE_FILTER)");
}

/* ---------------------------------------------------------------- create */

static int listen_exec(const char *path);
static int serve_execs(int listen_fd, pid_t init, long uid_base);

struct overlay {
  char *target, *lowers, *upper, *work;
};
struct bind {
  char *src, *dst;
  int ro;
};

struct create_opts {
  const char *id, *root;
  struct overlay overlays[MAX_ITEMS];
  int n_overlays;
  struct bind binds[MAX_ITEMS];
  int n_binds;
  char *masks[MAX_ITEMS];
  int n_masks;
  char *cgroup_procs[MAX_ITEMS];
  int n_cgroup_procs;
  char *join_procs[MAX_ITEMS];
  int n_join_procs;
  const char *exec_socket;
  const char *cgroup_into; /* a cgroup2 directory init is cloned straight into */
  long uid_base, id_count;
  const char *disk_subvol; /* the sandbox's dir, made a btrfs subvolume with a qgroup limit */
  long disk_bytes;
};

static int g_argc;
static char **g_argv;

static void add_item(int *n, const char *flag) {
  if (*n >= MAX_ITEMS) {
    fprintf(stderr, "%s: too many %s options (max %d)\n", prog, flag, MAX_ITEMS);
    exit(2);
  }
  (*n)++;
}

/* TARGET:LOWER[:LOWER2...]:UPPER:WORK — paths must not contain ':' (overlayfs splits on it too). */
static void parse_overlay(struct overlay *o, char *arg) {
  char *s = strdup(arg);
  if (!s) fail("strdup");
  char *first = strchr(s, ':');
  char *last = strrchr(s, ':');
  if (!first || first == last) goto bad;
  *last = 0;
  char *second_last = strrchr(s, ':');
  if (!second_last || second_last == first) goto bad;
  *first = 0;
  *second_last = 0;
  o->target = s;
  o->lowers = first + 1;
  o->upper = second_last + 1;
  o->work = last + 1;
  if (!*o->target || !*o->lowers || !*o->upper || !*o->work) goto bad;
  return;
bad:
  fprintf(stderr, "%s: --overlay expects TARGET:LOWER[:LOWER...]:UPPER:WORK\n", prog);
  exit(2);
}

static void parse_bind(struct bind *b, char *arg) {
  char *s = strdup(arg);
  if (!s) fail("strdup");
  b->ro = 0;
  size_t len = strlen(s);
  if (len > 3 && strcmp(s + len - 3, ":ro") == 0) {
    b->ro = 1;
    s[len - 3] = 0;
  }
  char *colon = strchr(s, ':');
  if (!colon || colon == s || !colon[1] || strchr(colon + 1, ':')) {
    fprintf(stderr, "%s: --bind expects SRC:DST[:ro]\n", prog);
    exit(2);
  }
  *colon = 0;
  b->src = s;
  b->dst = colon + 1;
}

static void mkdir_p(const char *path, mode_t mode) {
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

/* Make sure a mount point of the right kind (dir for a dir, file for anything else) exists. */
static void ensure_mountpoint(const char *path, int is_dir) {
  struct stat st;
  if (stat(path, &st) == 0) return;
  if (is_dir) {
    mkdir_p(path, 0755);
    return;
  }
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    mkdir_p(parent, 0755);
  }
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("create mount point %s", path);
  close(fd);
}

static void bind_ro(const char *path, int flags) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind %s", path);
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, NULL) < 0) fail("remount %s read-only", path);
}

/* Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory; missing is fine. */
static void mask_path(const char *path) {
  struct stat st;
  if (stat(path, &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    fail("stat %s", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555") < 0)
      fail("mask %s", path);
  } else if (mount("/dev/null", path, NULL, MS_BIND, NULL) < 0) {
    fail("mask %s", path);
  }
}

static void setup_dev(long uid_base) {
  char opts[128];
  snprintf(opts, sizeof opts, "mode=755,size=64k,nr_inodes=64,uid=%ld,gid=%ld", uid_base, uid_base);
  mkdir_p("/dev", 0755);
  if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, opts) < 0) fail("mount tmpfs on /dev");
  static const struct {
    const char *name;
    unsigned maj, min;
  } nodes[] = {{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}};
  char path[64];
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    snprintf(path, sizeof path, "/dev/%s", nodes[i].name);
    if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].maj, nodes[i].min)) < 0) fail("mknod %s", path);
    if (chown(path, uid_base, uid_base) < 0) fail("chown %s", path);
  }
  static const char *links[][2] = {{"/proc/self/fd", "/dev/fd"},   {"/proc/self/fd/0", "/dev/stdin"},
                                   {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"},
                                   {"pts/ptmx", "/dev/ptmx"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
    if (symlink(links[i][0], links[i][1]) < 0 || lchown(links[i][1], uid_base, uid_base) < 0)
      fail("symlink %s", links[i][1]);
  if (mkdir("/dev/pts", 0755) < 0 || mkdir("/dev/shm", 01777) < 0) fail("mkdir /dev/pts, /dev/shm");
  snprintf(opts, sizeof opts, "newinstance,ptmxmode=0666,mode=0620,gid=%ld", uid_base + 5);
  if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, opts) < 0) fail("mount devpts on /dev/pts");
  snprintf(opts, sizeof opts, "mode=1777,uid=%ld,gid=%ld", uid_base, uid_base);
  if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) fail("mount tmpfs on /dev/shm");
  if (chown("/dev/pts", uid_base, uid_base) < 0 || chown("/dev/shm", uid_base, uid_base) < 0) fail("chown /dev/pts");
}

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

static void close_fds_except(int keep) {
  /* close_range is Linux 5.9+; fall back to a loop over the usual range. */
  if (keep > 3 && syscall(SYS_close_range, 3, keep - 1, 0) < 0)
    for (int fd = 3; fd < keep; fd++) close(fd);
  if (syscall(SYS_close_range, keep + 1, ~0U, 0) < 0)
    for (int fd = keep + 1; fd < 1024; fd++) close(fd);
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

#define MAX_LAYER_FDS 64
/*
 * Overlay options naming every layer by an O_PATH descriptor (/proc/self/fd/N): the kernel resolves
 * them at mount time and shows the strings as given in /proc/self/mountinfo, so a sandbox reading its
 * mount table learns no host path (tidepool's home, a sandbox's dir). Returns the fds to close after
 * the mount.
 */
static int overlay_opts(struct overlay *ov, char *opts, size_t size, int *fds) {
  int n = 0;
  size_t len = 0;
  char lowers[4096];
  if (snprintf(lowers, sizeof lowers, "%s", ov->lowers) >= (int)sizeof lowers) {
    errno = E2BIG;
    fail("mount overlay on %s", ov->target);
  }
  len += (size_t)snprintf(opts + len, size - len, "lowerdir=");
  for (char *save = NULL, *l = strtok_r(lowers, ":", &save); l; l = strtok_r(NULL, ":", &save)) {
    if (n >= MAX_LAYER_FDS) {
      errno = E2BIG;
      fail("mount overlay on %s: more than %d layers", ov->target, MAX_LAYER_FDS);
    }
    int fd = open(l, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open layer %s", l);
    fds[n++] = fd;
    if (len < size) len += (size_t)snprintf(opts + len, size - len, "%s/proc/self/fd/%d", n > 1 ? ":" : "", fd);
  }
  const char *rw[2] = {ov->upper, ov->work};
  for (int k = 0; k < 2; k++) {
    int fd = open(rw[k], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) fail("open %s", rw[k]);
    fds[n++] = fd;
    if (len < size) len += (size_t)snprintf(opts + len, size - len, ",%s=/proc/self/fd/%d", k ? "workdir" : "upperdir", fd);
  }
  if (len >= size) {
    errno = E2BIG;
    fail("mount overlay on %s", ov->target);
  }
  return n;
}

/*
 * Host facts a sandbox has no need of, replaced cheaply with neutral content: the host's load average
 * (the kernel's boot command line is masked empty with the other /proc masks). What /proc still shows of
 * the host (uptime, meminfo, cpuinfo, stat) would need a FUSE filesystem like LXCFS.
 */
static void hide_host_proc(void) {
  static const char neutral[] = "0.00 0.00 0.00 1/1 1\n";
  const char *tmp = "/dev/.tidepool-loadavg";
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) fail("create %s", tmp);
  if (write_all(fd, neutral, sizeof neutral - 1) < 0) fail("write %s", tmp);
  close(fd);
  if (mount(tmp, "/proc/loadavg", NULL, MS_BIND, NULL) < 0) fail("mask /proc/loadavg");
  if (mount(NULL, "/proc/loadavg", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    fail("remount /proc/loadavg read-only");
  unlink(tmp); /* the bind mount keeps the file; /dev shows nothing */
}

static int init_main(struct create_opts *o, int go_fd, int status_fd) {
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
    int fds[MAX_LAYER_FDS + 2], n_fds = overlay_opts(ov, opts, sizeof opts, fds);
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

/* ---- disk limits: one btrfs subvolume per sandbox, with a qgroup limit ---------------------------
 * The pool is a btrfs filesystem (tidepool's loop image) with quotas on; each sandbox's directory in
 * it is a subvolume, so its writable layer (overlay upper and work) is charged to its own qgroup. */

#ifndef BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA
#define BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA 4
#endif
#define TP_BTRFS_FIRST_FREE_OBJECTID 256ULL /* linux/btrfs_tree.h: the root dir of every subvolume */

static unsigned long long subvol_id(int fd) {
  struct btrfs_ioctl_ino_lookup_args a;
  memset(&a, 0, sizeof a);
  a.objectid = TP_BTRFS_FIRST_FREE_OBJECTID;
  if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &a) < 0) return 0;
  return a.treeid;
}

/* Limits the subvolume's qgroup (0/id) to bytes (0: no limit) and records it in <dir>/disk. */
static int disk_set_limit(int dir_fd, unsigned long long id, unsigned long long bytes) {
  struct btrfs_ioctl_qgroup_limit_args a;
  memset(&a, 0, sizeof a);
  a.qgroupid = id;
  a.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER | BTRFS_QGROUP_LIMIT_MAX_EXCL;
  a.lim.max_rfer = bytes ? bytes : (__u64)-1;
  a.lim.max_excl = bytes ? bytes : (__u64)-1;
  if (ioctl(dir_fd, BTRFS_IOC_QGROUP_LIMIT, &a) < 0) return -1;
  char rec[64];
  int n = snprintf(rec, sizeof rec, "%llu %llu\n", id, bytes);
  int fd = openat(dir_fd, "disk", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return -1;
  int w = write_all(fd, rec, (size_t)n);
  close(fd);
  return w;
}

/* create --disk-subvol: the sandbox's dir becomes a limited subvolume holding its writable layer. */
static void disk_create(struct create_opts *o) {
  char parent[4096];
  if (snprintf(parent, sizeof parent, "%s", o->disk_subvol) >= (int)sizeof parent) {
    errno = ENAMETOOLONG;
    fail("disk subvolume %s", o->disk_subvol);
  }
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent || strlen(slash + 1) > BTRFS_PATH_NAME_MAX) {
    errno = EINVAL;
    fail("disk subvolume %s", o->disk_subvol);
  }
  *slash = 0;
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (pfd < 0) fail("open the disk pool %s", parent);
  struct btrfs_ioctl_vol_args va;
  memset(&va, 0, sizeof va);
  snprintf(va.name, sizeof va.name, "%s", slash + 1);
  if (ioctl(pfd, BTRFS_IOC_SUBVOL_CREATE, &va) < 0) fail("create btrfs subvolume %s", o->disk_subvol);
  close(pfd);
  int fd = open(o->disk_subvol, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("open %s", o->disk_subvol);
  unsigned long long id = subvol_id(fd);
  if (!id) fail("look up the subvolume id of %s", o->disk_subvol);
  if (disk_set_limit(fd, id, (unsigned long long)o->disk_bytes) < 0) fail("set the disk limit of %s (are quotas on in its pool?)", o->disk_subvol);
  close(fd);
  for (int i = 0; i < o->n_overlays; i++) {
    mkdir_p(o->overlays[i].upper, 0755);
    mkdir_p(o->overlays[i].work, 0755);
  }
  mkdir_p(o->root, 0755);
  /* The root of the writable layer is what / looks like inside: owned by the sandbox's root. */
  if (chown(o->overlays[0].upper, (uid_t)o->uid_base, (gid_t)o->uid_base) < 0) fail("chown %s", o->overlays[0].upper);
}

static int disk_limit_main(int argc, char **argv) {
  const char *path = NULL;
  long bytes = -1;
  for (int i = 0; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--path")) path = argv[i + 1];
    else if (!strcmp(argv[i], "--bytes")) bytes = parse_long(argv[i], argv[i + 1]);
    else usage();
  }
  if (!path || bytes < 0 || argc % 2) usage();
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("open %s", path);
  unsigned long long id = subvol_id(fd);
  if (!id) fail("look up the subvolume id of %s", path);
  if (disk_set_limit(fd, id, (unsigned long long)bytes) < 0) fail("set the disk limit of %s", path);
  return 0;
}

static int disk_pool_main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[0], "--path")) usage();
  int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail("open %s", argv[1]);
  struct btrfs_ioctl_quota_ctl_args q;
  memset(&q, 0, sizeof q);
  /* Simple quotas charge each extent to the subvolume that wrote it, with none of full qgroups' cost. */
  q.cmd = BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA;
  if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q) == 0) return 0;
  q.cmd = BTRFS_QUOTA_CTL_ENABLE;
  if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &q) < 0) fail("enable quotas on %s", argv[1]);
  return 0;
}

static int create_main(int argc, char **argv) {
  static struct create_opts o;
  o.uid_base = -1;
  o.id_count = -1;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (i + 1 >= argc) usage();
    char *v = argv[++i];
    if (!strcmp(a, "--id")) o.id = v;
    else if (!strcmp(a, "--root")) o.root = v;
    else if (!strcmp(a, "--overlay")) add_item(&o.n_overlays, a), parse_overlay(&o.overlays[o.n_overlays - 1], v);
    else if (!strcmp(a, "--bind")) add_item(&o.n_binds, a), parse_bind(&o.binds[o.n_binds - 1], v);
    else if (!strcmp(a, "--mask")) add_item(&o.n_masks, a), o.masks[o.n_masks - 1] = v;
    else if (!strcmp(a, "--cgroup-procs")) add_item(&o.n_cgroup_procs, a), o.cgroup_procs[o.n_cgroup_procs - 1] = v;
    else if (!strcmp(a, "--join-procs")) add_item(&o.n_join_procs, a), o.join_procs[o.n_join_procs - 1] = v;
    else if (!strcmp(a, "--exec-socket")) o.exec_socket = v;
    else if (!strcmp(a, "--cgroup-into")) o.cgroup_into = v;
    else if (!strcmp(a, "--uid-base")) o.uid_base = parse_long(a, v);
    else if (!strcmp(a, "--id-count")) o.id_count = parse_long(a, v);
    else if (!strcmp(a, "--disk-subvol")) o.disk_subvol = v;
    else if (!strcmp(a, "--disk-bytes")) o.disk_bytes = parse_long(a, v);
    else usage();
  }
  if (!o.id || !o.root || !o.exec_socket || o.uid_base < 0 || o.id_count <= 0 || o.n_overlays == 0) usage();
  if (strcmp(o.overlays[0].target, "/") != 0) {
    fprintf(stderr, "%s: the first --overlay must target /\n", prog);
    exit(2);
  }
  if (o.root[0] != '/') {
    fprintf(stderr, "%s: --root must be absolute\n", prog);
    exit(2);
  }
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
  int listen_fd = listen_exec(o.exec_socket);
  if (listen_fd < 0) {
    step = "listen for execs";
    goto parent_failed;
  }

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
  prctl(PR_SET_NAME, (unsigned long)"tidepool-sup", 0, 0, 0);
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

/* ---------------------------------------------------------------- exec server */

/*
 * Frames on an exec connection: one type byte, a 4-byte little-endian payload length, the payload.
 *   client → helper: 'q' the request (first, once; see read_request), 'i' stdin bytes, 'e' end of stdin
 *   helper → client: 'o' stdout bytes, 'r' stderr bytes, then one last frame:
 *                    'x' the exit code in decimal (128+N for signal N), or
 *                    'E' "<code>: <message>" when the command did not start.
 */
#define FRAME_HDR 5
#define CHUNK 65536
#define MAX_REQUEST (8 << 20)

static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8), p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* A whole frame, waiting for the reader as needed; a reader that went away is ignored. */
static void send_frame(int fd, char type, const void *data, size_t len) {
  unsigned char hdr[FRAME_HDR] = {(unsigned char)type};
  put_le32(hdr + 1, (uint32_t)len);
  if (write_all(fd, hdr, FRAME_HDR) == 0 && len > 0) write_all(fd, data, len);
}

/* Ends our side and waits (bounded) until the client has read the last frame and closed its side.
 * Closing first would hurt the client: a socket closed with unread data resets the connection, and a
 * client still writing stdin would get EPIPE, either of which can drop what it had not read yet. */
static void linger_close(int fd, int timeout_ms) {
  shutdown(fd, SHUT_WR);
  char sink[4096];
  for (;;) {
    struct pollfd r = {.fd = fd, .events = POLLIN};
    int pr = poll(&r, 1, timeout_ms);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
  }
  close(fd);
}

static int read_full(int fd, void *buf, size_t len) {
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

static void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Enters every namespace of init (host pid PID, or the pidfd of it opened in the host's pid namespace).
 * Linux 5.8+: one setns(pidfd) switches all of them atomically and takes init's root; older kernels:
 * one /proc/PID/ns file at a time (the host's /proc), then chroot into /proc/PID/root. */
static void enter_sandbox(long pid, int pidfd) {
  const int all = CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUSER;
  if (pidfd >= 0) {
    if (setns(pidfd, all) == 0) {
      close(pidfd);
      return;
    }
    if (errno == ESRCH) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
    if (errno != EINVAL) fail("setns(pidfd of %ld)", pid);
    close(pidfd);
  }
  static const char *ns_names[] = {"ipc", "uts", "net", "cgroup", "pid", "mnt", "user"};
  static const int ns_types[] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUSER};
  enum { NS_COUNT = 7 };
  int ns_fd[NS_COUNT];
  char path[64];
  for (int k = 0; k < NS_COUNT; k++) {
    snprintf(path, sizeof path, "/proc/%ld/ns/%s", pid, ns_names[k]);
    ns_fd[k] = open(path, O_RDONLY | O_CLOEXEC);
    if (ns_fd[k] < 0) {
      if (errno == ENOENT || errno == ESRCH) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
      fail("open %s", path);
    }
  }
  snprintf(path, sizeof path, "/proc/%ld/root", pid);
  int root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) {
    if (errno == ENOENT || errno == ESRCH) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
    fail("open %s", path);
  }
  for (int k = 0; k < NS_COUNT - 1; k++)
    if (setns(ns_fd[k], ns_types[k]) < 0) fail("setns(%s)", ns_names[k]);
  if (fchdir(root_fd) < 0 || chroot(".") < 0) fail("chroot into the sandbox root");
  /* the user namespace last: after it we hold no privilege on the host any more */
  if (setns(ns_fd[NS_COUNT - 1], CLONE_NEWUSER) < 0) fail("setns(user)");
  for (int k = 0; k < NS_COUNT; k++) close(ns_fd[k]);
  close(root_fd);
}

/* execvp with a default PATH, telling "not found" (127) from "not executable" (126) apart. */
static void __attribute__((noreturn)) exec_command(char **argv) {
  const char *cmd = argv[0];
  int saw_eacces = 0, err = ENOENT;
  if (strchr(cmd, '/')) {
    execve(cmd, argv, environ);
    err = errno;
    if (err == ENOEXEC) goto script;
  } else {
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    char full[4096];
    for (const char *p = path;; p++) {
      const char *colon = strchrnul(p, ':');
      size_t dl = (size_t)(colon - p);
      if (dl == 0) dl = 1, p = "."; /* empty entry = current directory */
      if (dl + strlen(cmd) + 2 <= sizeof full) {
        memcpy(full, p, dl);
        full[dl] = '/';
        strcpy(full + dl + 1, cmd);
        execve(full, argv, environ);
        if (errno == ENOEXEC) {
          cmd = full;
          goto script;
        }
        if (errno == EACCES) saw_eacces = 1;
        else if (errno != ENOENT && errno != ENOTDIR) {
          err = errno;
          break;
        }
      }
      if (!*colon) break;
      p = colon;
      if (p[0] == ':' && p[1] == 0) break;
    }
    if (saw_eacces) err = EACCES;
  }
  goto out;
script: {
  /* POSIX: a file without an interpreter line runs under the shell. */
  int n = 0;
  while (argv[n]) n++;
  char **sh = calloc((size_t)n + 2, sizeof *sh);
  if (sh) {
    sh[0] = "/bin/sh";
    sh[1] = (char *)cmd;
    for (int i = 1; i < n; i++) sh[i + 1] = argv[i];
    execve("/bin/sh", sh, environ);
  }
  err = errno;
}
out:
  if (err == ENOENT) fprintf(stderr, "tidepool: %s: command not found\n", argv[0]);
  else fprintf(stderr, "tidepool: %s: %s\n", argv[0], strerror(err));
  _exit(err == ENOENT ? 127 : 126);
}

struct exec_req {
  long uid, gid;
  char *cwd;
  char *clone_into; /* a cgroup2 directory the command is cloned straight into, or "" */
  char **cgroup_procs; /* cgroup.procs files the command joins after fork (hosts without cgroup2) */
  long n_cgroup_procs;
  char **argv, **envp;
  long timeout_ms;   /* kill the command's whole tree this long after it starts (0: never) */
  long detached;     /* 1: keep running when the client goes away (a background command) */
  char *status_file; /* where the exit status is written when the command ends, or "" */
};

static char *next_field(char **p, char *end) {
  char *s = *p;
  char *nul = s < end ? memchr(s, 0, (size_t)(end - s)) : NULL;
  if (!nul) fail_code("invalid_request", 0, "malformed exec request (a field is missing)");
  *p = nul + 1;
  return s;
}

static long next_long(char **p, char *end, const char *what) {
  char *s = next_field(p, end), *e;
  errno = 0;
  long v = strtol(s, &e, 10);
  if (errno || *e || e == s || v < 0) fail_code("invalid_request", 0, "malformed exec request (%s is \"%s\")", what, s);
  return v;
}

/* A count, then that many fields: a NULL-terminated array pointing into the request. */
static char **next_list(char **p, char *end, const char *what, long *count) {
  long n = next_long(p, end, what);
  if (n > MAX_REQUEST / 2) fail_code("invalid_request", 0, "malformed exec request (%ld %s)", n, what);
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) fail("calloc");
  for (long k = 0; k < n; k++) list[k] = next_field(p, end);
  if (count) *count = n;
  return list;
}

/* The 'q' frame: NUL-terminated fields "uid", "gid", "cwd", "clone-into" (a cgroup2 directory or ""),
 * then three lists, each a count and its items: cgroup.procs files to join, argv, environment ("K=V"),
 * then "timeout-ms" (0: none), "detached" (0 or 1) and "status-file" (an absolute host path or ""). */
static void read_request(int conn, struct exec_req *r) {
  unsigned char hdr[FRAME_HDR];
  if (read_full(conn, hdr, FRAME_HDR) < 0) _exit(1);
  uint32_t len = get_le32(hdr + 1);
  if (hdr[0] != 'q' || len > MAX_REQUEST) fail_code("invalid_request", 0, "an exec connection starts with a request of at most %d bytes", MAX_REQUEST);
  char *buf = malloc((size_t)len + 1);
  if (!buf) fail("malloc");
  if (read_full(conn, buf, len) < 0) _exit(1);
  char *p = buf, *end = buf + len;
  r->uid = next_long(&p, end, "uid");
  r->gid = next_long(&p, end, "gid");
  r->cwd = next_field(&p, end);
  r->clone_into = next_field(&p, end);
  r->cgroup_procs = next_list(&p, end, "cgroup files", &r->n_cgroup_procs);
  long argc = 0;
  r->argv = next_list(&p, end, "arguments", &argc);
  r->envp = next_list(&p, end, "environment entries", NULL);
  r->timeout_ms = next_long(&p, end, "timeout");
  r->detached = next_long(&p, end, "detached");
  r->status_file = next_field(&p, end);
  if (argc == 0 || r->cwd[0] != '/' || r->n_cgroup_procs > MAX_ITEMS)
    fail_code("invalid_request", 0, "malformed exec request (argv, cwd or cgroup files)");
}

/* What the handler of one connection relays between it and the command. */
struct conn_state {
  int conn;
  int eof;                        /* the client sent all it will send (stdin is closed) */
  int dead;                       /* the client went away: output is drained and dropped */
  unsigned char hdr[FRAME_HDR];   /* incoming frame header, hdr_len bytes of it so far */
  size_t hdr_len, frame_left;     /* payload bytes of the current 'i' frame still to read */
  int stdin_w;                    /* the command's stdin (-1 once closed) */
  char in[CHUNK];
  size_t in_len, in_off;          /* stdin bytes read from the client, not yet written */
  int out_r[2];                   /* the command's stdout and stderr (-1 at EOF) */
  unsigned char out[FRAME_HDR + CHUNK];
  size_t out_len, out_off;        /* one outgoing frame */
};

static void close_stdin(struct conn_state *c) {
  if (c->stdin_w >= 0) close(c->stdin_w);
  c->stdin_w = -1;
  c->in_len = c->in_off = 0;
}

/* Reads what the client sent: stdin frames (kept in c->in until written) and the end of stdin. */
static void conn_read(struct conn_state *c) {
  if (c->hdr_len < FRAME_HDR) {
    ssize_t n = recv(c->conn, c->hdr + c->hdr_len, FRAME_HDR - c->hdr_len, MSG_DONTWAIT);
    if (n == 0) {
      c->eof = 1; /* the client closed its side: no more stdin, but it may still read */
      close_stdin(c);
      return;
    }
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c->dead = 1, close_stdin(c);
      return;
    }
    c->hdr_len += (size_t)n;
    if (c->hdr_len < FRAME_HDR) return;
    uint32_t len = get_le32(c->hdr + 1);
    if (c->hdr[0] == 'i') c->frame_left = len;
    else if (c->hdr[0] == 'e' && len == 0) close_stdin(c);
    else {
      c->dead = 1; /* not our protocol */
      close_stdin(c);
      return;
    }
    if (c->frame_left == 0) c->hdr_len = 0;
    return;
  }
  size_t want = c->frame_left < CHUNK ? c->frame_left : CHUNK;
  ssize_t n = recv(c->conn, c->in, want, MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0) c->eof = 1, close_stdin(c);
    else if (errno != EAGAIN && errno != EINTR) c->dead = 1, close_stdin(c);
    return;
  }
  c->frame_left -= (size_t)n;
  if (c->frame_left == 0) c->hdr_len = 0;
  if (c->stdin_w >= 0) c->in_len = (size_t)n, c->in_off = 0; /* else the command closed its stdin: drop */
}

static void stdin_write(struct conn_state *c) {
  ssize_t n = write(c->stdin_w, c->in + c->in_off, c->in_len - c->in_off);
  if (n > 0) {
    c->in_off += (size_t)n;
    if (c->in_off == c->in_len) c->in_len = c->in_off = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    close_stdin(c); /* EPIPE: the command does not read its stdin any more */
  }
}

/* Reads one chunk of the command's stdout (k = 0) or stderr (k = 1) into the outgoing frame. */
static void output_read(struct conn_state *c, int k) {
  ssize_t n = read(c->out_r[k], c->out + FRAME_HDR, CHUNK);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    close(c->out_r[k]);
    c->out_r[k] = -1;
    return;
  }
  if (n < 0 || c->dead) return;
  c->out[0] = k == 0 ? 'o' : 'r';
  put_le32(c->out + 1, (uint32_t)n);
  c->out_len = FRAME_HDR + (size_t)n;
  c->out_off = 0;
}

static void output_send(struct conn_state *c) {
  ssize_t n = send(c->conn, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n > 0) {
    c->out_off += (size_t)n;
    if (c->out_off == c->out_len) c->out_len = c->out_off = 0;
  } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
    c->dead = 1; /* the client went away: keep draining so the command never blocks */
    c->out_len = c->out_off = 0;
  }
}

static void output_flush(struct conn_state *c) {
  while (c->out_len > 0 && !c->dead) {
    struct pollfd w = {.fd = c->conn, .events = POLLOUT};
    if (poll(&w, 1, -1) < 0 && errno != EINTR) return;
    output_send(c);
  }
  c->out_len = c->out_off = 0;
}


/* Into init's pid namespace for the children forked from now on (this process stays where it is). */
static void enter_pid_ns(pid_t init, int pidfd) {
  if (pidfd < 0 || setns(pidfd, CLONE_NEWPID) < 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/pid", (int)init); /* Linux < 5.8: setns takes no pidfd */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ESRCH)) fail_code("not_found", 0, "sandbox init (pid %d) is gone", (int)init);
    if (fd < 0 || setns(fd, CLONE_NEWPID) < 0) fail("enter the pid namespace of %d", (int)init);
    close(fd);
  }
}

/* ---- the command's own cgroup, ended by the handler itself: a timeout, a caller that went away and
 * the cleanup after the command do not depend on the control plane still being there (it may crash). */

/* The exec cgroup's directory: the cgroup2 one the command is cloned into, else the directory of the
 * first cgroup.procs file it joins (its own exec cgroup on hosts without cgroup2); "" if neither. */
static void exec_cgroup_dir(const struct exec_req *r, char *dir, size_t size) {
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

/* One round of SIGKILL for every process in exec cgroup DIR: cgroup.kill where the kernel has it (it
 * also catches processes forking right now), then pid by pid as a backstop and for older kernels.
 * The handler sits outside that cgroup, so this never hits it. Returns how many processes were listed. */
static int tree_kill_once(const char *dir) {
  char path[4200];
  snprintf(path, sizeof path, "%s/cgroup.kill", dir);
  int kfd = open(path, O_WRONLY | O_CLOEXEC);
  if (kfd >= 0) {
    ssize_t w = write(kfd, "1", 1);
    (void)w;
    close(kfd);
  }
  snprintf(path, sizeof path, "%s/cgroup.procs", dir);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int n = 0;
  long v;
  while (n < 100000 && fscanf(f, "%ld", &v) == 1) {
    if (v > 0) kill((pid_t)v, SIGKILL);
    n++;
  }
  fclose(f);
  return n;
}

/* After the command's main process was reaped: kills what it left behind (a command's lifetime ends
 * with its main process) and removes its cgroup, waiting (bounded) for the last ones to go. So no empty
 * exec cgroup is ever left, with or without a control plane. */
static void tree_end(const char *dir) {
  if (!dir[0]) return;
  for (int waited = 0, delay = 1; waited < 10000; waited += delay, delay = delay < 50 ? delay * 2 : 50) {
    if (rmdir(dir) == 0 || errno == ENOENT) return;
    if (errno != EBUSY && errno != ENOTEMPTY) return;
    tree_kill_once(dir);
    usleep((useconds_t)delay * 1000);
  }
}

/* "<code>\n" or "<code> timeout\n" into the status file (written whole, then renamed into place), so a
 * control plane that restarted learns how a background command ended. */
static void write_status(const char *file, int code, int timed_out) {
  if (!file[0]) return;
  char tmp[4200], line[32];
  snprintf(tmp, sizeof tmp, "%s.tmp", file);
  int n = snprintf(line, sizeof line, "%d%s\n", code, timed_out ? " timeout" : "");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return;
  int ok = write_all(fd, line, (size_t)n) == 0;
  close(fd);
  if (!ok || rename(tmp, file) < 0) unlink(tmp);
}

static long long mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/*
 * One exec, in a process of its own (forked by the supervisor for each connection): forks the command
 * into the sandbox of `init`, relays stdio as frames, and ends with its exit code. This process stays
 * host root in the host's namespaces, outside the command's cgroup: killing or freezing that never hits
 * it, so it always outlives and reaps the command. It inherited the sandbox's resource cgroups from the
 * supervisor, and the command is cloned straight into its own cgroup2 directory, so no migration.
 */
static void __attribute__((noreturn)) serve_connection(int conn, pid_t init, long uid_base) {
  prctl(PR_SET_NAME, (unsigned long)"tidepool-exec", 0, 0, 0);
  signal(SIGCHLD, SIG_DFL);
  err_frame_fd = conn;
  err_prefix_code = 1;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); /* a client that never sends its request */
  struct exec_req r;
  read_request(conn, &r);
  long long deadline = r.timeout_ms > 0 ? mono_ms() + r.timeout_ms : 0;
  char cgdir[4096];
  exec_cgroup_dir(&r, cgdir, sizeof cgdir);
  tv.tv_sec = 0;
  setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  /* The exec's cgroup, opened now: gone means it was killed (or the sandbox destroyed) before it started. */
  int into = -1, into_procs = -1;
  if (r.clone_into[0]) {
    into = open(r.clone_into, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (into >= 0) into_procs = openat(into, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (into < 0 || into_procs < 0) {
      if (errno == ENOENT) fail_code("not_found", 0, "cgroup %s is gone (the sandbox or the command was ended)", r.clone_into);
      fail("open %s", r.clone_into);
    }
  }
  int cg_fd[MAX_ITEMS];
  for (long k = 0; k < r.n_cgroup_procs; k++) {
    cg_fd[k] = open(r.cgroup_procs[k], O_WRONLY | O_CLOEXEC);
    if (cg_fd[k] < 0) {
      if (errno == ENOENT) fail_code("not_found", 0, "cgroup %s is gone (the sandbox or the command was ended)", r.cgroup_procs[k]);
      fail("open %s", r.cgroup_procs[k]);
    }
  }
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  /* Opened here, in the host's pid namespace: inside the sandbox's, init's host pid means nothing. */
  int init_fd = (int)syscall(SYS_pidfd_open, init, 0); /* always close-on-exec */
  if (init_fd < 0 && errno == ESRCH) fail_code("not_found", 0, "sandbox init (pid %d) is gone", (int)init);
  enter_pid_ns(init, init_fd);

  /* Real pipes for the command (so /dev/stdout and friends work inside), owned by its user: uid-base
   * + uid on the host, which is what fchown needs here, outside the sandbox's user namespace. */
  long base = uid_base, gbase = uid_base;
  int io[3][2], status[2];
  for (int k = 0; k < 3; k++) {
    if (pipe2(io[k], O_CLOEXEC) < 0) fail("pipe");
    int child_end = k == 0 ? io[k][0] : io[k][1];
    if (fchown(child_end, (uid_t)(base + r.uid), (gid_t)(gbase + r.gid)) < 0) fail("fchown pipe");
    set_nonblock(k == 0 ? io[k][1] : io[k][0]);
  }
  if (pipe2(status, O_CLOEXEC) < 0) fail("pipe");
  signal(SIGPIPE, SIG_IGN);

  /* The first process to land in the sandbox's pid namespace, and in its exec cgroup. */
  pid_t child = -1;
  int joined = 0;
  if (into >= 0) {
    child = clone_into(into, 0);
    if (child >= 0) joined = 1;
    else if (errno == EAGAIN) fail_code("conflict", 0, "the sandbox's pids limit is reached; end some of its processes or raise resources.pids");
    else if (errno == ENODEV || errno == ENOENT) fail_code("not_found", 0, "the command was ended before it started");
    else if (!clone_into_unsupported(errno)) fail("clone3 into %s", r.clone_into);
  }
  if (!joined) child = fork();
  if (child < 0) {
    if (errno == EAGAIN) fail_code("conflict", 0, "the sandbox's pids limit is reached; end some of its processes or raise resources.pids");
    fail("fork");
  }
  if (child == 0) {
    /* Setup failures go to the status pipe; it closes unread when the command starts. */
    err_frame_fd = -1;
    err_fd = status[1];
    /* Still host root here: the handler's OOM protection must not pass on to the command. */
    write_file("/proc/self/oom_score_adj", "0");
    if (!joined && into_procs >= 0 && write(into_procs, "0", 1) != 1) {
      if (errno == ENODEV || errno == ENOENT) fail_code("not_found", 0, "the command was ended before it started");
      fail("join cgroup %s", r.clone_into);
    }
    for (long k = 0; k < r.n_cgroup_procs; k++) {
      if (write(cg_fd[k], "0", 1) != 1) {
        if (errno == ENODEV || errno == ENOENT) fail_code("not_found", 0, "the command was ended before it started");
        fail("join cgroup %s", r.cgroup_procs[k]);
      }
    }
    enter_sandbox(init, init_fd);
    /* From now on this process is root of the sandbox's user namespace only (host uid = uid-base). */
    if (setgroups(0, NULL) < 0) fail("setgroups");
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) fail("become root of the sandbox's user namespace");
    if (dup2(io[0][0], 0) < 0 || dup2(io[1][1], 1) < 0 || dup2(io[2][1], 2) < 0) fail("dup2");
    close_fds_except(status[1]);
    if (setgroups(0, NULL) < 0) fail("setgroups");
    if (setresgid((gid_t)r.gid, (gid_t)r.gid, (gid_t)r.gid) < 0) fail("setresgid %ld", r.gid);
    if (setresuid((uid_t)r.uid, (uid_t)r.uid, (uid_t)r.uid) < 0) fail("setresuid %ld", r.uid);
    if (chdir(r.cwd) < 0) fail_code("invalid_request", errno, "cwd %s", r.cwd);
    install_seccomp();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL); /* ignored ones would survive execve */
    environ = r.envp;
    exec_command(r.argv);
  }
  close(io[0][0]);
  close(io[1][1]);
  close(io[2][1]);
  close(status[1]);
  for (long k = 0; k < r.n_cgroup_procs; k++) close(cg_fd[k]);
  if (into >= 0) close(into), close(into_procs);
  set_nonblock(conn);

  static struct conn_state c;
  c.conn = conn;
  c.stdin_w = io[0][1];
  c.out_r[0] = io[1][0];
  c.out_r[1] = io[2][0];
  int status_r = status[0];
  char report[1024];
  size_t report_len = 0;
  int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
  int st = 0, exited = 0, turn = 0;
  int timed_out = 0; /* the deadline passed: the tree was killed */
  int abandoned = 0; /* the client went away from a command that is not detached: the tree was killed */
  while (!exited) {
    struct pollfd pf[6];
    int np = 0, i_conn = -1, i_in = -1, i_out[2] = {-1, -1}, i_status = -1;
    short conn_ev = (short)((c.in_len == 0 && !c.eof ? POLLIN : 0) | (c.out_len > 0 ? POLLOUT : 0));
    /* Watched even with nothing to do on it, so a hang-up is seen while the command is silent. */
    if (!c.dead && (conn_ev || !c.eof)) i_conn = np, pf[np++] = (struct pollfd){.fd = conn, .events = conn_ev};
    if (c.in_len > 0) i_in = np, pf[np++] = (struct pollfd){.fd = c.stdin_w, .events = POLLOUT};
    for (int k = 0; k < 2; k++)
      if (c.out_len == 0 && c.out_r[k] >= 0) i_out[k] = np, pf[np++] = (struct pollfd){.fd = c.out_r[k], .events = POLLIN};
    if (status_r >= 0) i_status = np, pf[np++] = (struct pollfd){.fd = status_r, .events = POLLIN};
    if (pidfd >= 0) pf[np++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
    /* Without pidfd (Linux < 5.3) poll in slices and ask waitpid. */
    int wait_ms = pidfd >= 0 ? -1 : 20;
    if (deadline && !timed_out) {
      long long left = deadline - mono_ms();
      if (left < 0) left = 0;
      if (wait_ms < 0 || left < wait_ms) wait_ms = (int)left;
    }
    int pr = poll(pf, (nfds_t)np, wait_ms);
    if (pr < 0 && errno != EINTR) fail("poll");
    if (pr > 0) {
      if (i_conn >= 0 && (pf[i_conn].revents & POLLOUT)) output_send(&c);
      if (i_conn >= 0 && (pf[i_conn].revents & (POLLIN | POLLHUP | POLLERR)) && c.in_len == 0) conn_read(&c);
      /* Hung up with stdin still pending for the command: the client is gone all the same. */
      if (i_conn >= 0 && (pf[i_conn].revents & (POLLHUP | POLLERR)) && c.in_len > 0) c.eof = 1, close_stdin(&c);
      if (i_in >= 0 && pf[i_in].revents && c.in_len > 0) stdin_write(&c);
      /* stdout and stderr take turns, so a chatty one cannot starve the other */
      for (int j = 0; j < 2; j++) {
        int k = (turn + j) & 1;
        if (i_out[k] >= 0 && pf[i_out[k]].revents && c.out_len == 0 && c.out_r[k] >= 0) {
          output_read(&c, k);
          if (c.out_len > 0) output_send(&c);
          turn = k ^ 1;
          break;
        }
      }
      if (i_status >= 0 && pf[i_status].revents) {
        ssize_t n = read(status_r, report + report_len, sizeof report - 1 - report_len);
        if (n > 0) report_len += (size_t)n;
        else if (n == 0 || errno != EINTR) close(status_r), status_r = -1;
      }
    }
    if (deadline && !timed_out && mono_ms() >= deadline) {
      timed_out = 1;
      if (cgdir[0]) tree_kill_once(cgdir);
      kill(child, SIGKILL);
    }
    /* The control plane never half-closes: end of input means the client is gone (or crashed). */
    if (!abandoned && !r.detached && (c.dead || c.eof)) {
      abandoned = 1;
      if (cgdir[0]) tree_kill_once(cgdir);
      kill(child, SIGKILL);
    }
    if (waitpid(child, &st, WNOHANG) == child) exited = 1;
  }
  /* The command exited. Pass on what it left in the pipes, then stop: background processes it left
   * behind are killed by the runtime (a command's lifetime ends with its main process). */
  close_stdin(&c);
  output_flush(&c);
  for (int k = 0; k < 2; k++) {
    if (c.out_r[k] < 0) continue;
    int avail = 0;
    if (ioctl(c.out_r[k], FIONREAD, &avail) < 0) avail = 0;
    while (avail > 0 && c.out_r[k] >= 0 && !c.dead) {
      output_read(&c, k);
      if (c.out_len == 0) break;
      avail -= (int)(c.out_len - FRAME_HDR);
      output_flush(&c);
    }
  }
  /* The status pipe's only writer was the command before its execve: it is closed now. */
  while (status_r >= 0) {
    ssize_t n = read(status_r, report + report_len, sizeof report - 1 - report_len);
    if (n > 0) report_len += (size_t)n;
    else if (n == 0 || errno != EINTR) break;
  }
  /* What the command left running ends with it, and its cgroup goes: before the exit is reported, so
   * "exited" means nothing of it runs any more. */
  tree_end(cgdir);
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  int failed = code == EXIT_SETUP && report_len > 0;
  if (!failed) write_status(r.status_file, code, timed_out);
  if (!c.dead) {
    if (failed) {
      send_frame(conn, 'E', report, report_len);
    } else {
      char num[32];
      int n = snprintf(num, sizeof num, "%d%s", code, timed_out ? " timeout" : "");
      send_frame(conn, 'x', num, (size_t)n);
    }
  }
  if (!c.dead && !c.eof) linger_close(conn, 10000);
  _exit(0);
}

/* The supervisor's exec socket: mode 0600 in a 0700 directory; returns -1 (errno set) on failure. */
static int listen_exec(const char *path) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  unlink(path);
  mode_t old = umask(077);
  int ok = bind(s, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(s, SOMAXCONN) == 0;
  umask(old);
  if (!ok) {
    int e = errno;
    close(s);
    errno = e;
    return -1;
  }
  return s;
}

/*
 * The supervisor's loop: forks a handler per exec connection (only the same uid may connect; the
 * socket's mode says so too) and reaps them; ends when init has exited, after its handlers (which
 * end with their commands, all killed with the sandbox's pid namespace).
 */
/* Connections the supervisor refused (no handler could be forked): each is kept, our side shut, until
 * the client has read the refusal and closed (see linger_close), or for a second at most. */
#define MAX_REFUSED 64
struct refused {
  int fd;
  struct timespec until;
};

static long ms_until(const struct timespec *t) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void refuse(struct refused *r, int *n, int fd, const char *msg) {
  send_frame(fd, 'E', msg, strlen(msg));
  shutdown(fd, SHUT_WR);
  set_nonblock(fd);
  if (*n == MAX_REFUSED) { /* the oldest goes */
    close(r[0].fd);
    memmove(r, r + 1, sizeof *r * (MAX_REFUSED - 1));
    (*n)--;
  }
  r[*n].fd = fd;
  clock_gettime(CLOCK_MONOTONIC, &r[*n].until);
  r[*n].until.tv_sec += 5; /* a busy client may take a while to read it */
  (*n)++;
}

static int serve_execs(int listen_fd, pid_t init, long uid_base) {
  signal(SIGPIPE, SIG_IGN);
  /* Handlers and init are reaped as soon as they exit: a zombie handler would hold one of the
   * sandbox's pids (they are charged until reaped). SIGCHLD stays blocked and arrives as a readable
   * signalfd, so none slips in between the reaping below and the next poll. */
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, NULL);
  int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  uid_t me = getuid();
  struct refused refused[MAX_REFUSED];
  int n_refused = 0;
  for (;;) {
    struct pollfd pf[2 + MAX_REFUSED] = {{.fd = listen_fd, .events = POLLIN}, {.fd = sig_fd, .events = POLLIN}};
    int np = 2, timeout = sig_fd >= 0 ? -1 : 100; /* without signalfd: poll in slices and ask waitpid */
    for (int k = 0; k < n_refused; k++) {
      pf[np++] = (struct pollfd){.fd = refused[k].fd, .events = POLLIN};
      long left = ms_until(&refused[k].until);
      if (timeout < 0 || left < timeout) timeout = left < 0 ? 0 : (int)left;
    }
    int pr = poll(pf, (nfds_t)np, timeout);
    if (sig_fd >= 0 && pf[1].revents) {
      struct signalfd_siginfo si;
      while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si) {
      }
    }
    for (int k = n_refused - 1; k >= 0; k--) {
      char sink[4096];
      ssize_t got = pf[2 + k].revents ? recv(refused[k].fd, sink, sizeof sink, MSG_DONTWAIT) : -1;
      int done = got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR && pf[2 + k].revents) || ms_until(&refused[k].until) <= 0;
      if (!done) continue;
      close(refused[k].fd);
      memmove(refused + k, refused + k + 1, sizeof *refused * (size_t)(n_refused - k - 1));
      n_refused--;
    }
    int st = 0;
    pid_t w;
    while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
      if (w != init) continue;
      close(listen_fd);
      while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
      }
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    if (pr <= 0 || !(pf[0].revents & POLLIN)) continue;
    int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) usleep(10000);
      continue;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != me) {
      close(c);
      continue;
    }
    pid_t h = fork();
    if (h == 0) {
      close(listen_fd);
      if (sig_fd >= 0) close(sig_fd);
      for (int k = 0; k < n_refused; k++) close(refused[k].fd);
      sigprocmask(SIG_UNBLOCK, &chld, NULL);
      serve_connection(c, init, uid_base);
    }
    if (h < 0) {
      refuse(refused, &n_refused, c, errno == EAGAIN ? "conflict: the sandbox's pids limit is reached; end some of its processes or raise resources.pids"
                                                     : "internal: could not fork an exec handler");
      continue;
    }
    close(c);
  }
}

/* ---------------------------------------------------------------- mount / umount */

/* /proc/PID/stat field 22 (starttime), or -1 when the process is gone or a zombie. */
static long long proc_start_time(long pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  if (!p || p[1] != ' ') return -1;
  p += 2;
  if (*p == 'Z' || *p == 'X') return -1;
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (!p) return -1;
    p++;
  }
  return strtoll(p, NULL, 10);
}

/* The host id that id 0 maps to in /proc/PID/{uid,gid}_map. */
static long root_host_id(long pid, const char *map) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/%s", pid, map);
  FILE *f = fopen(path, "re");
  if (!f) fail("open %s", path);
  long inside, outside, count, found = -1;
  while (fscanf(f, "%ld %ld %ld", &inside, &outside, &count) == 3)
    if (inside == 0 && count > 0) found = outside;
  fclose(f);
  if (found < 0) fail_code("internal", 0, "%s maps no root (is pid %ld a sandbox init?)", path, pid);
  return found;
}

/* An absolute path inside the sandbox other than /, without "." or ".." components or empty ones. */
static int sandbox_path_ok(const char *p) {
  if (p[0] != '/' || p[1] == 0 || strlen(p) >= 4096) return 0;
  for (const char *c = p; *c;) {
    const char *seg = c + 1, *end = strchrnul(seg, '/');
    size_t len = (size_t)(end - seg);
    if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
    c = end;
  }
  return 1;
}

/* mkdir -p inside the sandbox; what this creates belongs to the sandbox's root (mode 0755). */
static void mkdir_owned(const char *path, uid_t uid, gid_t gid) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1;; p++) {
    if (*p != '/' && *p != 0) continue;
    char c = *p;
    *p = 0;
    if (mkdir(tmp, 0755) == 0) {
      if (lchown(tmp, uid, gid) < 0) fail("chown %s", tmp);
    } else if (errno != EEXIST) {
      if (errno == ENOTDIR) fail_code("invalid_request", errno, "target %s: a parent of it is not a directory in the sandbox", path);
      fail("mkdir %s", tmp);
    }
    *p = c;
    if (!c) break;
  }
  struct stat st;
  if (stat(path, &st) < 0) fail("stat %s", path);
  if (!S_ISDIR(st.st_mode)) fail_code("invalid_request", 0, "target %s exists in the sandbox and is not a directory", path);
}

/* Opens what identifies the sandbox (its mount namespace and root) and checks it is still the init
 * that started at start_time: a pid that was reused in between would show another start time. */
static void open_sandbox(long pid, long long start_time, int *mnt_fd, int *root_fd) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/ns/mnt", pid);
  *mnt_fd = open(path, O_RDONLY | O_CLOEXEC);
  snprintf(path, sizeof path, "/proc/%ld/root", pid);
  *root_fd = *mnt_fd < 0 ? -1 : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (*mnt_fd < 0 || *root_fd < 0) {
    if (errno == ENOENT || errno == ESRCH) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
    fail("open %s", path);
  }
  if (proc_start_time(pid) != start_time) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
}

/* Into the sandbox's mount namespace and root, staying host root: that namespace belongs to the host's
 * user namespace, so mounting in it takes host privilege (which the sandbox's own root lacks). */
static void enter_mount_ns(long pid, int mnt_fd, int root_fd) {
  if (setns(mnt_fd, CLONE_NEWNS) < 0) {
    if (errno == EINVAL) fail_code("not_found", 0, "sandbox init (pid %ld) is gone", pid);
    fail("setns(mnt of %ld)", pid);
  }
  if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) fail("chroot into the sandbox root");
  close(mnt_fd);
  close(root_fd);
}

static int mount_main(int argc, char **argv, int unmount) {
  long pid = -1;
  long long start_time = -1;
  const char *source = NULL, *target = NULL;
  int ro = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (!unmount && !strcmp(a, "--ro")) {
      ro = 1;
      continue;
    }
    if (i + 1 >= argc) usage();
    char *v = argv[++i];
    if (!strcmp(a, "--pid")) pid = parse_long(a, v);
    else if (!strcmp(a, "--start-time")) start_time = parse_long(a, v);
    else if (!strcmp(a, "--target")) target = v;
    else if (!unmount && !strcmp(a, "--source")) source = v;
    else usage();
  }
  if (pid <= 0 || start_time < 0 || !target || (!unmount && !source)) usage();
  err_prefix_code = 1; /* "<code>: <message>" on stderr, exit 125 */
  if (!sandbox_path_ok(target))
    fail_code("invalid_request", 0, "target must be an absolute, normalised path inside the sandbox other than / (got \"%s\")", target);
  if (!unmount && source[0] != '/') fail_code("invalid_request", 0, "source must be an absolute host path (got \"%s\")", source);

  if (unmount) {
    int mnt_fd, root_fd;
    open_sandbox(pid, start_time, &mnt_fd, &root_fd);
    enter_mount_ns(pid, mnt_fd, root_fd);
    /* The topmost mount on target only, never a symlink's destination; no mount there is fine. */
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT && errno != ENOTDIR)
      fail("detach %s", target);
    return 0;
  }

  /* A private, detached copy of the host directory, made in the host's mount namespace. */
  int tree = (int)syscall(__NR_open_tree, AT_FDCWD, source, TP_OPEN_TREE_CLONE | O_CLOEXEC);
  if (tree < 0) {
    if (errno == ENOSYS) fail_code("runtime_unavailable", 0, "mount injection needs Linux 5.2+ (open_tree/move_mount); this kernel lacks open_tree");
    if (errno == ENOENT || errno == ENOTDIR) fail_code("invalid_request", errno, "source %s", source);
    fail("open_tree %s", source);
  }
  struct stat src;
  if (fstat(tree, &src) < 0) fail("fstat %s", source);
  if (!S_ISDIR(src.st_mode)) fail_code("invalid_request", 0, "source %s is not a directory", source);
  struct tp_mount_attr attr = {
      .attr_set = TP_MOUNT_ATTR_NOSUID | TP_MOUNT_ATTR_NODEV | (ro ? TP_MOUNT_ATTR_RDONLY : 0),
      .propagation = MS_PRIVATE, /* no mount events between the host and the sandbox, either way */
  };
  int legacy = 0;
  if (syscall(__NR_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    if (errno != ENOSYS) fail("mount_setattr %s", source);
    legacy = 1; /* Linux 5.2-5.11: set the same flags with mount(2) once attached */
  }

  int mnt_fd, root_fd;
  open_sandbox(pid, start_time, &mnt_fd, &root_fd);
  uid_t uid = (uid_t)root_host_id(pid, "uid_map");
  gid_t gid = (gid_t)root_host_id(pid, "gid_map");
  enter_mount_ns(pid, mnt_fd, root_fd);
  umask(0);
  mkdir_owned(target, uid, gid);

  struct stat dst;
  if (stat(target, &dst) < 0) fail("stat %s", target);
  if (dst.st_dev == src.st_dev && dst.st_ino == src.st_ino) {
    /* Already there (the host directory is visible in a sandbox only through such a mount). */
    struct statvfs vfs;
    if (statvfs(target, &vfs) < 0) fail("statvfs %s", target);
    if (!!(vfs.f_flag & ST_RDONLY) == ro) return 0;
    if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) fail("detach %s to change its read-only flag", target);
  }
  if (syscall(__NR_move_mount, tree, "", AT_FDCWD, target, TP_MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    if (errno == ENOSYS) fail_code("runtime_unavailable", 0, "mount injection needs Linux 5.2+ (open_tree/move_mount); this kernel lacks move_mount");
    fail("move_mount %s onto %s", source, target);
  }
  close(tree);
  if (legacy &&
      (mount(NULL, target, NULL, MS_PRIVATE, NULL) < 0 ||
       mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (ro ? MS_RDONLY : 0), NULL) < 0)) {
    int e = errno;
    umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW); /* all or nothing */
    errno = e;
    fail("set the flags of %s", target);
  }
  return 0;
}

/* ---------------------------------------------------------------- watch */

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

static int watch_main(void) {
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

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  if (argc < 2) usage();
  if (!strcmp(argv[1], "create")) return create_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "mount")) return mount_main(argc - 2, argv + 2, 0);
  if (!strcmp(argv[1], "umount")) return mount_main(argc - 2, argv + 2, 1);
  if (!strcmp(argv[1], "disk-limit")) return disk_limit_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "disk-pool")) return disk_pool_main(argc - 2, argv + 2);
  if (!strcmp(argv[1], "watch")) return watch_main();
  usage();
}
