// Package fsutil holds the crash-safe file operations shared by the
// agent's state files: a write that either fully replaces a file or leaves
// the old one, and a directory sync that makes a rename durable.
package fsutil
