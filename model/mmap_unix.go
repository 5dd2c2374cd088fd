//go:build unix

package model

import (
	"fmt"
	"os"
	"syscall"
)

// readModelFile memory-maps the model so that large weight buffers are paged
// in from the file rather than copied onto the heap. The mapping lives as long
// as the process; models are loaded a handful of times.
func readModelFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	size := st.Size()
	if size == 0 || !st.Mode().IsRegular() || size > 1<<31-1 {
		return readFileBytes(path)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		return readFileBytes(path)
	}
	return data, nil
}
