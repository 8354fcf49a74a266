/* Hot mounts (see hot-mount.h and the top of main.c). Failures: "<code>: <message>" on stderr, exit 125. */
#include "compat.h"
#include "cli.h"
#include "hot-mount.h"
#include "util.h"

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
  if (found < 0) fail_code(TP_ERR_INTERNAL, 0, "%s maps no root (is pid %ld a sandbox init?)", path, pid);
  return found;
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
      if (errno == ENOTDIR) fail_code(TP_ERR_INVALID_REQUEST, errno, "target %s: a parent of it is not a directory in the sandbox", path);
      fail("mkdir %s", tmp);
    }
    *p = c;
    if (!c) break;
  }
  struct stat st;
  if (stat(path, &st) < 0) fail("stat %s", path);
  if (!S_ISDIR(st.st_mode)) fail_code(TP_ERR_INVALID_REQUEST, 0, "target %s exists in the sandbox and is not a directory", path);
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
    if (errno == ENOENT || errno == ESRCH) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
    fail("open %s", path);
  }
  if (proc_start_time(pid) != start_time) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
}

/* Into the sandbox's mount namespace and root, staying host root: that namespace belongs to the host's
 * user namespace, so mounting in it takes host privilege (which the sandbox's own root lacks). */
static void enter_mount_ns(long pid, int mnt_fd, int root_fd) {
  if (setns(mnt_fd, CLONE_NEWNS) < 0) {
    if (errno == EINVAL) fail_code(TP_ERR_NOT_FOUND, 0, "sandbox init (pid %ld) is gone", pid);
    fail("setns(mnt of %ld)", pid);
  }
  if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0) fail("chroot into the sandbox root");
  close(mnt_fd);
  close(root_fd);
}

int mount_main(int argc, char **argv, int unmount) {
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
    fail_code(TP_ERR_INVALID_REQUEST, 0, "target must be an absolute, normalised path inside the sandbox other than / (got \"%s\")", target);
  if (!unmount && source[0] != '/') fail_code(TP_ERR_INVALID_REQUEST, 0, "source must be an absolute host path (got \"%s\")", source);

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
    if (errno == ENOSYS) fail_code(TP_ERR_RUNTIME_UNAVAILABLE, 0, "mount injection needs Linux 5.2+ (open_tree/move_mount); this kernel lacks open_tree");
    if (errno == ENOENT || errno == ENOTDIR) fail_code(TP_ERR_INVALID_REQUEST, errno, "source %s", source);
    fail("open_tree %s", source);
  }
  struct stat src;
  if (fstat(tree, &src) < 0) fail("fstat %s", source);
  if (!S_ISDIR(src.st_mode)) fail_code(TP_ERR_INVALID_REQUEST, 0, "source %s is not a directory", source);
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
    if (errno == ENOSYS) fail_code(TP_ERR_RUNTIME_UNAVAILABLE, 0, "mount injection needs Linux 5.2+ (open_tree/move_mount); this kernel lacks move_mount");
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
