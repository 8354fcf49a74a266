/* Mounts made while a sandbox's init sets up its root: mount points, masks, /dev, overlay options. */
#ifndef TP_MOUNTS_H
#define TP_MOUNTS_H
#include <stddef.h>
#include "args.h"

#define MAX_LAYER_FDS 64

/* Make sure a mount point of the right kind (dir for a dir, file for anything else) exists. */
void ensure_mountpoint(const char *path, int is_dir);
void bind_ro(const char *path, int flags);
/* Hide a path: /dev/null over a file, an empty read-only tmpfs over a directory; missing is fine. */
void mask_path(const char *path);
void setup_dev(long uid_base);
/* Overlay options naming every layer by an O_PATH descriptor; returns how many fds to close after. */
int overlay_opts(struct overlay *ov, char *opts, size_t size, int *fds);
/* Neutral content over host facts a sandbox has no need of (/proc/loadavg). */
void hide_host_proc(void);
#endif
