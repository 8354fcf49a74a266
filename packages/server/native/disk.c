/* Disk limits (see disk.h). */
#include "compat.h"
#include "cli.h"
#include "disk.h"
#include "snapshot.h"

/* ---- disk limits: one btrfs subvolume per sandbox, with a qgroup limit ---------------------------
 * The pool is a btrfs filesystem (tidepool's loop image) with quotas on; each sandbox's directory in
 * it is a subvolume, so its writable layer (overlay upper and work) is charged to its own qgroup. */

#ifndef BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA
#define BTRFS_QUOTA_CTL_ENABLE_SIMPLE_QUOTA 4
#endif

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
void disk_create(struct create_opts *o) {
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
  if (o->disk_from) {
    /* A writable snapshot of a snapshot: O(1) in bytes and files; the files share its extents. */
    int src = open(o->disk_from, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0) fail("open snapshot %s", o->disk_from);
    if (snap_create(pfd, slash + 1, src, 0) < 0) fail("snapshot %s as %s", o->disk_from, o->disk_subvol);
    close(src);
  } else {
    struct btrfs_ioctl_vol_args va;
    memset(&va, 0, sizeof va);
    snprintf(va.name, sizeof va.name, "%s", slash + 1);
    if (ioctl(pfd, BTRFS_IOC_SUBVOL_CREATE, &va) < 0) fail("create btrfs subvolume %s", o->disk_subvol);
  }
  close(pfd);
  int fd = open(o->disk_subvol, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) fail("open %s", o->disk_subvol);
  /* Before anything can fail: a destroy after a failed start must not find the parent's init file. */
  if (o->disk_from && strip_to_layer(o->disk_subvol) < 0) fail("strip %s to its writable layer", o->disk_subvol);
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

int disk_limit_main(int argc, char **argv) {
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

int disk_pool_main(int argc, char **argv) {
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
