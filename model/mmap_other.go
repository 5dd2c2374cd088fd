//go:build !unix

package model

func readModelFile(path string) ([]byte, error) { return readFileBytes(path) }
