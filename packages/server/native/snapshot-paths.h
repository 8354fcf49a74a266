/* What a snapshot keeps of a sandbox's dir, and how its path splits for the btrfs ioctls (pure). */
#ifndef TP_SNAPSHOT_PATHS_H
#define TP_SNAPSHOT_PATHS_H
#include <stddef.h>

/* Whether a top-level entry of a sandbox's dir stays in its snapshot (only its writable layer does). */
int snapshot_keeps(const char *name);
/* Splits "DIR/NAME" into a copy of DIR (in dir, size bytes) and a pointer to NAME; -1 when path has no
 * parent other than /, ends in "/", does not fit, or NAME is longer than a file name may be (255). */
int split_subvol_path(const char *path, char *dir, size_t size, const char **name);
#endif
