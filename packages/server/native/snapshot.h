/* Snapshots of sandbox writable layers: read-only btrfs snapshots of a sandbox's subvolume (helper
 * snapshot), deleting subvolumes (subvolume-delete), and the writable snapshot a sandbox started from
 * one begins with. */
#ifndef TP_SNAPSHOT_H
#define TP_SNAPSHOT_H

/* BTRFS_IOC_SNAP_CREATE_V2 of the subvolume open at src_fd as parent_fd/name (read-only when rdonly).
 * 0, or -1 with errno set. */
int snap_create(int parent_fd, const char *name, int src_fd, int rdonly);
/* The btrfs subvolume id of the directory open at fd (the tree of its root dir), or 0 when it is none. */
unsigned long long subvol_id(int fd);
/* Removes every top-level entry of the sandbox dir at path but upper/ (init, disk, the exec socket and
 * records, merged, work): what a sandbox started from a snapshot must not inherit. 0, or -1 (errno). */
int strip_to_layer(const char *path);
int snapshot_main(int argc, char **argv);
int subvolume_delete_main(int argc, char **argv);
#endif
