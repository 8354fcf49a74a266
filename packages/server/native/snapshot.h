/* Snapshots of sandbox writable layers: read-only btrfs snapshots of a sandbox's subvolume (helper
 * snapshot, snapshot-delete) and the writable snapshot a sandbox started from one begins with. */
#ifndef TP_SNAPSHOT_H
#define TP_SNAPSHOT_H

/* The one file a snapshot holds besides upper/: "<subvolume id> <bytes>\n" (bytes: what the sandbox's
 * qgroup referenced when it was captured). A sandbox started from the snapshot removes it. */
#define SNAPSHOT_RECORD "snapshot"

/* BTRFS_IOC_SNAP_CREATE_V2 of the subvolume open at src_fd as parent_fd/name (read-only when rdonly).
 * 0, or -1 with errno set. */
int snap_create(int parent_fd, const char *name, int src_fd, int rdonly);
/* Whether a top-level entry of a sandbox's dir stays in its snapshot (only its writable layer does). Pure. */
int snapshot_keeps(const char *name);
/* Splits "DIR/NAME" into a copy of DIR (in dir, size bytes) and a pointer to NAME; -1 when path has no
 * parent other than / or NAME is too long for btrfs. Pure. */
int split_subvol_path(const char *path, char *dir, size_t size, const char **name);
int snapshot_main(int argc, char **argv);
int snapshot_delete_main(int argc, char **argv);
#endif
