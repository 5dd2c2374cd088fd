package model

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// File is a model together with the bytes it was decoded from, which the
// agent needs for the model's identity (calibrations are bound to the SHA-256
// of the file) and for associated files such as labels.
type File struct {
	*Model
	Name     string
	Raw      []byte
	Metadata *Metadata // nil when the model carries none
	sha256   string
	// mapped is set when Raw is a memory mapping of the file.
	mapped bool
}

// Open loads a model file (memory-mapped where possible) with its metadata.
func Open(path string) (*File, error) {
	raw, mapped, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	f, err := OpenBytes(path, raw)
	if err != nil {
		return nil, err
	}
	f.mapped = mapped
	return f, nil
}

// OpenBytes decodes raw as a model named name.
func OpenBytes(name string, raw []byte) (*File, error) {
	m, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	md, err := m.ReadMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	sum := sha256.Sum256(raw)
	return &File{Model: m, Name: name, Raw: raw, Metadata: md, sha256: hex.EncodeToString(sum[:])}, nil
}

// SHA256 is the hex SHA-256 of the model file, computed when it was
// opened.
func (f *File) SHA256() string { return f.sha256 }

// ReleasePages tells the kernel that the memory-mapped file's pages may be
// dropped from memory, once an interpreter has copied what it runs on
// (packed weights, aligned constants): they are read from the file again
// if something touches them. It does nothing for a file read into the
// heap. Without it, the pages read while loading stay resident — the
// whole model, counted in the agent's RSS.
func (f *File) ReleasePages() {
	if f.mapped {
		releasePages(f.Raw)
	}
}
