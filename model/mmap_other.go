//go:build !unix

package model

func readModelFile(path string) ([]byte, bool, error) {
	data, err := readFileBytes(path)
	return data, false, err
}

func releasePages([]byte) {}
