package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrFormat is wrapped by errors about malformed idx files.
var ErrFormat = errors.New("malformed idx file")

// maxIdxBytes bounds the payload an idx header may claim (1 GiB).
const maxIdxBytes = 1 << 30

// Images is a set of same-sized 8-bit grayscale images, row-major.
type Images struct {
	N, Height, Width int
	Pixels           []uint8 // N*Height*Width
}

// At returns image i's pixels.
func (im *Images) At(i int) []uint8 {
	size := im.Height * im.Width
	return im.Pixels[i*size : (i+1)*size]
}

// ReadIdxImages reads an idx3-ubyte image file, gzipped or not.
func ReadIdxImages(path string) (*Images, error) {
	dims, data, err := readIdx(path, 3)
	if err != nil {
		return nil, err
	}
	return &Images{N: dims[0], Height: dims[1], Width: dims[2], Pixels: data}, nil
}

// ReadIdxLabels reads an idx1-ubyte label file, gzipped or not.
func ReadIdxLabels(path string) ([]uint8, error) {
	_, data, err := readIdx(path, 1)
	return data, err
}

func readIdx(path string, rank int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	dims, data, err := ParseIdx(f, rank)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return dims, data, nil
}

// ParseIdx decodes an unsigned-byte idx stream of the given rank; a gzip
// stream is recognised by its magic bytes.
func ParseIdx(r io.Reader, rank int) ([]int, []byte, error) {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		defer gz.Close()
		br = bufio.NewReader(gz)
	}
	var header [4]byte
	if _, err := io.ReadFull(br, header[:]); err != nil {
		return nil, nil, fmt.Errorf("%w: header: %v", ErrFormat, err)
	}
	if header[0] != 0 || header[1] != 0 {
		return nil, nil, fmt.Errorf("%w: bad magic % x", ErrFormat, header)
	}
	if header[2] != 0x08 {
		return nil, nil, fmt.Errorf("%w: element type 0x%02x, only unsigned bytes (0x08) are supported", ErrFormat, header[2])
	}
	if int(header[3]) != rank {
		return nil, nil, fmt.Errorf("%w: rank %d, want %d", ErrFormat, header[3], rank)
	}
	dims := make([]int, rank)
	total := 1
	for i := range dims {
		var d uint32
		if err := binary.Read(br, binary.BigEndian, &d); err != nil {
			return nil, nil, fmt.Errorf("%w: dimension %d: %v", ErrFormat, i, err)
		}
		if d == 0 || uint64(total)*uint64(d) > maxIdxBytes {
			return nil, nil, fmt.Errorf("%w: dimensions %v too large or zero", ErrFormat, dims[:i+1])
		}
		dims[i] = int(d)
		total *= int(d)
	}
	var buf bytes.Buffer
	n, err := io.CopyN(&buf, br, int64(total))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: payload holds %d of %d bytes: %v", ErrFormat, n, total, err)
	}
	return dims, buf.Bytes(), nil
}
