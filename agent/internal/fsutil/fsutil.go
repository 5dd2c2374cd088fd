package fsutil

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ood-agent/ood-agent/internal/atomicfile"
)

// WriteFile replaces path with data so that after a crash or power loss
// the file holds either its old or its new contents, never a mix.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return atomicfile.WriteFile(path, data, perm)
}

// SyncDir fsyncs a directory, making the creation, removal or renaming of
// its entries durable.
func SyncDir(dir string) error { return atomicfile.SyncDir(dir) }

// Symlink points the symbolic link path at target atomically: a new link
// is made under a temporary name and renamed over path, so readers see
// either the old or the new target. The directory is synced afterwards.
func Symlink(target, path string) error {
	dir := filepath.Dir(path)
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".link-tmp")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", path, err)
	}
	return SyncDir(dir)
}
