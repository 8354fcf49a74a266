/* Mounts of a sandbox's init (see mounts.h). Every failure here ends the create (fail). */
#include "compat.h"
#include "mounts.h"

/* Make sure a mount point of the right kind (dir for a dir, file for anything else) exists. */
void ensure_mountpoint(const char *path, int is_dir) {
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

void bind_ro(const char *path, int flags) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail("bind %s", path);
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, NULL) < 0) fail("remount %s read-only", path);
}

/* Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory; missing is fine. */
void mask_path(const char *path) {
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

void setup_dev(long uid_base) {
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

/* Closes the n fds opened so far: a failed overlay_opts leaves nothing open. */
static overlay_result overlay_abort(overlay_result res, int *fds, int n) {
  int e = errno;
  for (int k = 0; k < n; k++) close(fds[k]);
  errno = e;
  return res;
}

/*
 * Overlay options naming every layer by an O_PATH descriptor (/proc/self/fd/N): the kernel resolves
 * them at mount time and shows the strings as given in /proc/self/mountinfo, so a sandbox reading its
 * mount table learns no host path (tidepool's home, a sandbox's dir). See mounts.h.
 */
overlay_result overlay_opts(const struct overlay *ov, char *opts, size_t size, int *fds, int *n_fds, char *failing, size_t failing_size) {
  int n = 0;
  size_t len = 0;
  char lowers[4096];
  failing[0] = 0;
  *n_fds = 0;
  if (snprintf(lowers, sizeof lowers, "%s", ov->lowers) >= (int)sizeof lowers) return OVERLAY_ERROR_TOO_LONG;
  len += (size_t)snprintf(opts + len, size - len, "lowerdir=");
  for (char *save = NULL, *l = strtok_r(lowers, ":", &save); l; l = strtok_r(NULL, ":", &save)) {
    if (n >= MAX_LAYER_FDS) return overlay_abort(OVERLAY_ERROR_TOO_MANY_LAYERS, fds, n);
    int fd = open(l, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(failing, failing_size, "%s", l);
      return overlay_abort(OVERLAY_ERROR_OPEN_LAYER, fds, n);
    }
    fds[n++] = fd;
    if (len < size) len += (size_t)snprintf(opts + len, size - len, "%s/proc/self/fd/%d", n > 1 ? ":" : "", fd);
  }
  const char *rw[2] = {ov->upper, ov->work};
  for (int k = 0; k < 2; k++) {
    int fd = open(rw[k], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(failing, failing_size, "%s", rw[k]);
      return overlay_abort(OVERLAY_ERROR_OPEN_RW, fds, n);
    }
    fds[n++] = fd;
    if (len < size) len += (size_t)snprintf(opts + len, size - len, ",%s=/proc/self/fd/%d", k ? "workdir" : "upperdir", fd);
  }
  /* xino: layers on different filesystems (btrfs subvolumes each count as one, each numbering its inodes
   * from 256) would otherwise show two different files with one st_ino, and tools that compare inodes
   * (cat's "input file is output file", cp, tar, rsync) would take one for the other. */
  if (len < size) len += (size_t)snprintf(opts + len, size - len, ",xino=on");
  if (len >= size) return overlay_abort(OVERLAY_ERROR_TOO_LONG, fds, n);
  *n_fds = n;
  return OVERLAY_OK;
}

void die_with_overlay_result(overlay_result res, int saved_errno, const struct overlay *ov, const char *failing) {
  errno = saved_errno;
  switch (res) {
  case OVERLAY_OK: /* not a failure: a caller bug */
    break;
  case OVERLAY_ERROR_TOO_LONG:
    errno = E2BIG;
    fail("mount overlay on %s", ov->target);
  case OVERLAY_ERROR_TOO_MANY_LAYERS:
    errno = E2BIG;
    fail("mount overlay on %s: more than %d layers", ov->target, MAX_LAYER_FDS);
  case OVERLAY_ERROR_OPEN_LAYER:
    fail("open layer %s", failing);
  case OVERLAY_ERROR_OPEN_RW:
    fail("open %s", failing);
  }
  fail("mount overlay on %s", ov->target);
}

/*
 * Host facts a sandbox has no need of, replaced cheaply with neutral content: the host's load average
 * (the kernel's boot command line is masked empty with the other /proc masks). What /proc still shows of
 * the host (uptime, meminfo, cpuinfo, stat) would need a FUSE filesystem like LXCFS.
 */
void hide_host_proc(void) {
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
