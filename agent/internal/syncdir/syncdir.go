// Package syncdir makes a directory's entries durable: a file created or
// renamed into a directory survives a power cut only once the directory
// itself is synced, which os does not do.
package syncdir

import "os"

// Sync syncs the directory dir.
func Sync(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
