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
// It reports whether the bytes are a mapping.
func readModelFile(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, fmt.Errorf("read model: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("read model: %w", err)
	}
	size := st.Size()
	if size == 0 || !st.Mode().IsRegular() || size > 1<<31-1 {
		data, err := readFileBytes(path)
		return data, false, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		data, err := readFileBytes(path)
		return data, false, err
	}
	return data, true, nil
}

// releasePages drops the mapping's pages from memory; the file backs them.
func releasePages(b []byte) {
	// Advice only: a failure leaves the pages resident, nothing else.
	_ = syscall.Madvise(b, syscall.MADV_DONTNEED)
}
