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
int snapshot_main(int argc, char **argv);
int snapshot_delete_main(int argc, char **argv);
#endif
