/* Paths of snapshots, pure (see snapshot-paths.h). */
#include "compat.h"
#include "snapshot-paths.h"

int split_subvol_path(const char *path, char *dir, size_t size, const char **name) {
  if (snprintf(dir, size, "%s", path) >= (int)size) return -1;
  char *slash = strrchr(dir, '/');
  if (!slash || slash == dir || !slash[1] || strlen(slash + 1) > 255) return -1; /* NAME_MAX: btrfs names (BTRFS_NAME_LEN) */
  *slash = 0;
  *name = path + (slash - dir) + 1;
  return 0;
}

int snapshot_keeps(const char *name) {
  return !strcmp(name, "upper") || !strcmp(name, ".") || !strcmp(name, "..");
}
