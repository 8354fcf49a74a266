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
typedef enum {
  OVERLAY_OK = 0,
  OVERLAY_ERROR_TOO_LONG,         /* the lower list or the options do not fit */
  OVERLAY_ERROR_TOO_MANY_LAYERS,  /* more than MAX_LAYER_FDS lowers */
  OVERLAY_ERROR_OPEN_LAYER,       /* a lower layer (failing) could not be opened as a directory */
  OVERLAY_ERROR_OPEN_RW,          /* the upper or work dir (failing) could not be opened */
} overlay_result;
/* Overlay options naming every layer by an O_PATH descriptor (/proc/self/fd/N), so the mount table shows
 * no host path. On OVERLAY_OK, *n_fds fds (in fds) are to be closed after the mount; on failure none is
 * left open, errno says why and `failing` names the path that failed (if any). */
overlay_result overlay_opts(const struct overlay *ov, char *opts, size_t size, int *fds, int *n_fds, char *failing, size_t failing_size);
/* The one message for each overlay_result (exits). */
void __attribute__((noreturn)) die_with_overlay_result(overlay_result res, int saved_errno, const struct overlay *ov, const char *failing);
/* Neutral content over host facts a sandbox has no need of (/proc/loadavg). */
void hide_host_proc(void);
#endif
