// Package image owns everything Krill knows about container images: pulling
// them from registries, the content store and metadata database they live
// in, the overlay snapshots that become container root filesystems, and the
// built-in pause image that lets pods start without any registry.
//
// It is assembled from containerd's own library packages, not reimplemented:
//
//   - core/remotes/docker (+ its config package) resolves and fetches, with
//     registry hosts configured from a directory of containerd hosts.toml files;
//   - plugins/content/local is the blob store, core/metadata the bolt database
//     that indexes blobs, snapshots, image records and leases and garbage
//     collects whatever no record references any more;
//   - core/unpack + core/diff/apply extract layers into the
//     plugins/snapshots/overlay snapshotter (apply refuses path traversal).
//
// On disk (Config.Root, normally root/images): content/ (blobs), snapshots/
// (overlay layers and container upper dirs), meta.db (bolt).
//
// An image is a set of containerd image records, one per reference: a tag
// record ("docker.io/library/busybox:latest") and a digest record
// ("docker.io/library/busybox@sha256:<manifest>"), all carrying the image ID
// (the config digest) as a label. Removing the last tag removes the image.
//
// This package must never know about pods or containers beyond the opaque
// snapshot key a caller hands to PrepareRootfs, and must never log or return
// registry credentials.
package image
