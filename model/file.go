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
}

// Open loads a model file (memory-mapped where possible) with its metadata.
func Open(path string) (*File, error) {
	raw, err := readModelFile(path)
	if err != nil {
		return nil, err
	}
	return OpenBytes(path, raw)
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
	return &File{Model: m, Name: name, Raw: raw, Metadata: md}, nil
}

// SHA256 is the hex SHA-256 of the model file.
func (f *File) SHA256() string {
	sum := sha256.Sum256(f.Raw)
	return hex.EncodeToString(sum[:])
}
