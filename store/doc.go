// Package store keeps Krill's pod and container records: in memory for
// fast lookups and, write-through, as one versioned JSON file per object
// on disk so that a restarted krilld can rebuild its view.
//
// On disk (under the daemon's root):
//
//	pods/<id>/pod.json              a Pod record
//	containers/<id>/container.json  a Container record
//
// Files are replaced atomically (write to a temp file, fsync, rename), so
// a crash leaves either the old or the new record, never half of one;
// Settle's state changes skip the fsync (a machine crash may lose the
// newest one, which recovery reconciles anyway; see Settle).
// Every record carries Version. Load refuses a newer version than it knows
// (krilld does not start, the file is named), moves an unreadable record to
// quarantine/<pods|containers>/<id> (recovery leaves that object's live
// processes and mounts alone) and removes a record directory without a
// record. Settle keeps a change in memory when the disk write fails (full
// disk) and retries the write in the background.
//
// The store never acts on the host: it only remembers.
package store
