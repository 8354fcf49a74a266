/* Snapshots of sandbox writable layers (see snapshot.h and the top of main.c). */
#include "compat.h"
#include "cli.h"
#include "snapshot.h"
#include "snapshot-paths.h"
#include "util.h"
#include <dirent.h>
#include <ftw.h>

#define TP_BTRFS_FIRST_FREE_OBJECTID 256ULL /* linux/btrfs_tree.h: the root dir of every subvolume */

int snap_create(int parent_fd, const char *name, int src_fd, int rdonly) {
  struct btrfs_ioctl_vol_args_v2 a;
  memset(&a, 0, sizeof a);
  a.fd = src_fd;
  a.flags = rdonly ? BTRFS_SUBVOL_RDONLY : 0;
  snprintf(a.name, sizeof a.name, "%s", name);
  return ioctl(parent_fd, BTRFS_IOC_SNAP_CREATE_V2, &a);
}

unsigned long long subvol_id(int fd) {
  struct btrfs_ioctl_ino_lookup_args a;
  memset(&a, 0, sizeof a);
  a.objectid = TP_BTRFS_FIRST_FREE_OBJECTID;
  if (ioctl(fd, BTRFS_IOC_INO_LOOKUP, &a) < 0) return 0;
  return a.treeid;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f) {
  (void)st, (void)f;
  return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int strip_to_layer(const char *snap) {
  DIR *d = opendir(snap);
  if (!d) return -1;
  char p[4200];
  for (struct dirent *e; (e = readdir(d));) {
    if (snapshot_keeps(e->d_name)) continue;
    snprintf(p, sizeof p, "%s/%s", snap, e->d_name);
    if (nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
      closedir(d);
      return -1;
    }
  }
  closedir(d);
  return 0;
}

static int destroy_subvol(int parent_fd, const char *name) {
  struct btrfs_ioctl_vol_args va;
  memset(&va, 0, sizeof va);
  snprintf(va.name, sizeof va.name, "%s", name);
  return ioctl(parent_fd, BTRFS_IOC_SNAP_DESTROY, &va);
}

/* snapshot --source SUBVOL --dest DIR/ID */
int snapshot_main(int argc, char **argv) {
  const char *source = NULL, *dest = NULL;
  err_prefix_code = 1; /* "<code>: <message>" on stderr, exit 125 */
  for (int i = 0; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--source")) source = argv[i + 1];
    else if (!strcmp(argv[i], "--dest")) dest = argv[i + 1];
    else usage();
  }
  if (!source || !dest || argc % 2) usage();
  char parent[4096];
  const char *name;
  if (split_subvol_path(dest, parent, sizeof parent, &name) < 0) fail_code(TP_ERR_INVALID_REQUEST, EINVAL, "snapshot path %s", dest);
  int src = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (src < 0) fail_code(errno == ENOENT ? TP_ERR_NOT_FOUND : TP_ERR_INTERNAL, errno, "open the sandbox's layer %s", source);
  mkdir(parent, 0700);
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (pfd < 0) fail("open %s", parent);
  /* Read-only at once: one ioctl and one transaction commit, the only work done while the sandbox is
   * frozen. The copy also holds what is not the layer (init, disk, the exec socket and records, work):
   * only its upper/ is ever used as a layer, and a sandbox started from it strips the rest first. */
  if (snap_create(pfd, name, src, 1) < 0) {
    if (errno == EEXIST) fail_code(TP_ERR_INVALID_REQUEST, EEXIST, "snapshot %s", name);
    fail("snapshot %s as %s", source, dest);
  }
  int fd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  unsigned long long id = fd < 0 ? 0 : subvol_id(fd);
  if (!id) {
    int e = errno;
    destroy_subvol(pfd, name); /* a failed capture leaves nothing */
    errno = e;
    fail("look up the subvolume id of %s", dest);
  }
  printf("%llu\n", id);
  return 0;
}

/* subvolume-delete --path DIR/NAME: idempotent (a missing one is fine). */
int subvolume_delete_main(int argc, char **argv) {
  err_prefix_code = 1;
  if (argc != 2 || strcmp(argv[0], "--path")) usage();
  char parent[4096];
  const char *name;
  if (split_subvol_path(argv[1], parent, sizeof parent, &name) < 0) fail_code(TP_ERR_INVALID_REQUEST, EINVAL, "subvolume path %s", argv[1]);
  int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (pfd < 0) {
    if (errno == ENOENT) return 0;
    fail("open %s", parent);
  }
  /* The kernel unlinks it at once, whatever it holds, and frees its extents (and its qgroup) in the
   * background: O(1) where an rm -r is O(files). Not a subvolume: invalid_request (remove it as a dir). */
  if (destroy_subvol(pfd, name) < 0 && errno != ENOENT) {
    if (errno == EINVAL || errno == ENOTDIR) fail_code(TP_ERR_INVALID_REQUEST, errno, "delete subvolume %s", argv[1]);
    fail("delete subvolume %s", argv[1]);
  }
  return 0;
}
