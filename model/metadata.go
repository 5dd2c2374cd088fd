package model

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	flatbuffers "github.com/google/flatbuffers/go"
)

// MetadataName is the name of the metadata entry that holds TFLite model
// metadata (the tflite-support metadata schema).
const MetadataName = "TFLITE_METADATA"

const metadataIdentifier = "M001"

// maxAssociatedFile bounds one associated file read from a model's zip.
const maxAssociatedFile = 16 << 20

// Metadata is TFLite model metadata: what the model is, how to prepare its
// inputs and how to read its outputs.
type Metadata struct {
	Name             string
	Description      string
	Version          string
	Author           string
	License          string
	MinParserVersion string
	Inputs           []TensorMetadata
	Outputs          []TensorMetadata
	// AssociatedFiles lists the files the model and subgraph metadata
	// name; tensor-level files are listed on the tensors.
	AssociatedFiles []AssociatedFile
	// Files holds the contents of associated files packed into the model
	// file as a zip archive, by name.
	Files map[string][]byte
	// Warnings say what could not be read without making the model
	// unusable, such as an associated-file zip cut short (the labels are
	// then missing). Callers log them.
	Warnings []string
}

// TensorMetadata describes an input or output tensor.
type TensorMetadata struct {
	Name        string
	Description string
	// ColorSpace is "rgb", "grayscale" or "" for image tensors.
	ColorSpace string
	// Image marks tensors whose content is an image.
	Image bool
	// Mean and Std normalize inputs: (x - mean) / std, per channel or one
	// value for all.
	Mean, Std       []float32
	Min, Max        []float32
	AssociatedFiles []AssociatedFile
}

// AssociatedFileType says what an associated file holds.
type AssociatedFileType int8

// Associated file types of the metadata schema.
const (
	FileUnknown          AssociatedFileType = 0
	FileDescriptions     AssociatedFileType = 1
	FileTensorAxisLabels AssociatedFileType = 2
	FileTensorValueLabel AssociatedFileType = 3
	FileScoreCalibration AssociatedFileType = 4
	FileVocabulary       AssociatedFileType = 5
)

// AssociatedFile names a file packed with the model.
type AssociatedFile struct {
	Name        string
	Description string
	Type        AssociatedFileType
	Locale      string
}

// Metadata decodes the model's TFLITE_METADATA entry. raw is the whole model
// file, needed for associated files that are zipped after the flatbuffer; it
// may be nil. It returns nil, nil when the model has no metadata.
func (m *Model) ReadMetadata(raw []byte) (*Metadata, error) {
	var buf []byte
	found := false
	for _, e := range m.Metadata {
		if e.Name == MetadataName {
			buf, found = m.Buffers[e.Buffer], true
		}
	}
	if !found {
		return nil, nil
	}
	md, err := decodeMetadata(buf)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if len(raw) > 0 {
		files, warnings, err := readZipTail(raw)
		if err != nil {
			return nil, fmt.Errorf("metadata associated files: %w", err)
		}
		md.Files, md.Warnings = files, warnings
		for _, name := range md.fileNames() {
			if _, ok := files[name]; !ok && !slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, name+":") }) {
				md.Warnings = append(md.Warnings, fmt.Sprintf("%s: named by the metadata but not in the model file "+
					"(its zip archive is missing or cut short); labels and other associated data are unavailable", name))
			}
		}
	}
	return md, nil
}

// fileNames returns the associated files the metadata names, at model and
// tensor level, each once, in order.
func (md *Metadata) fileNames() []string {
	var names []string
	add := func(files []AssociatedFile) {
		for _, f := range files {
			if !slices.Contains(names, f.Name) {
				names = append(names, f.Name)
			}
		}
	}
	add(md.AssociatedFiles)
	for _, t := range slices.Concat(md.Inputs, md.Outputs) {
		add(t.AssociatedFiles)
	}
	return names
}

// Labels returns the lines of the first TENSOR_AXIS_LABELS file of the
// first output, or nil.
func (md *Metadata) Labels() []string {
	if md == nil || len(md.Outputs) == 0 {
		return nil
	}
	for _, f := range md.Outputs[0].AssociatedFiles {
		if f.Type != FileTensorAxisLabels {
			continue
		}
		data, ok := md.Files[f.Name]
		if !ok {
			return nil
		}
		var labels []string
		for _, line := range bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n")) {
			labels = append(labels, string(bytes.TrimRight(line, "\r")))
		}
		return labels
	}
	return nil
}

func decodeMetadata(buf []byte) (*Metadata, error) {
	if len(buf) < 8 {
		return nil, fmt.Errorf("%w: metadata of %d bytes is too short", ErrFormat, len(buf))
	}
	if string(buf[4:8]) != metadataIdentifier {
		return nil, fmt.Errorf("%w: metadata identifier %q, want %q", ErrFormat, buf[4:8], metadataIdentifier)
	}
	r := &reader{buf: buf, budget: len(buf)}
	root := r.tableAt(r.indirect(0, "metadata root"), "metadata")
	md := &Metadata{
		Name:             r.fieldString(root, 0, "name"),
		Description:      r.fieldString(root, 1, "description"),
		Version:          r.fieldString(root, 2, "version"),
		Author:           r.fieldString(root, 4, "author"),
		License:          r.fieldString(root, 5, "license"),
		MinParserVersion: r.fieldString(root, 7, "min_parser_version"),
		AssociatedFiles:  r.associatedFiles(root, 6),
	}
	r.tables(root, 3, "subgraph_metadata", func(k int, sg table) {
		if k > 0 {
			return
		}
		r.tables(sg, 2, "input_tensor_metadata", func(_ int, t table) {
			md.Inputs = append(md.Inputs, r.tensorMetadata(t))
		})
		r.tables(sg, 3, "output_tensor_metadata", func(_ int, t table) {
			md.Outputs = append(md.Outputs, r.tensorMetadata(t))
		})
		md.AssociatedFiles = append(md.AssociatedFiles, r.associatedFiles(sg, 4)...)
	})
	if r.err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, r.err)
	}
	return md, nil
}

func (r *reader) associatedFiles(t table, slot int) []AssociatedFile {
	var files []AssociatedFile
	r.tables(t, slot, "associated_files", func(_ int, f table) {
		files = append(files, AssociatedFile{
			Name:        r.fieldString(f, 0, "file name"),
			Description: r.fieldString(f, 1, "file description"),
			Type:        AssociatedFileType(int8(r.fieldU8(f, 2, 0))),
			Locale:      r.fieldString(f, 3, "file locale"),
		})
	})
	return files
}

const (
	contentImage        = 2
	processNormalize    = 1
	colorSpaceRGB       = 1
	colorSpaceGrayscale = 2
)

func (r *reader) tensorMetadata(t table) TensorMetadata {
	tm := TensorMetadata{
		Name:            r.fieldString(t, 0, "tensor name"),
		Description:     r.fieldString(t, 1, "tensor description"),
		AssociatedFiles: r.associatedFiles(t, 6),
	}
	if content, ok := r.fieldTable(t, 3, "content"); ok {
		if r.fieldU8(content, 0, 0) == contentImage {
			tm.Image = true
			if props, ok := r.fieldTable(content, 1, "image properties"); ok {
				switch r.fieldU8(props, 0, 0) {
				case colorSpaceRGB:
					tm.ColorSpace = "rgb"
				case colorSpaceGrayscale:
					tm.ColorSpace = "grayscale"
				}
			}
		}
	}
	r.tables(t, 4, "process_units", func(_ int, pu table) {
		if r.fieldU8(pu, 0, 0) != processNormalize {
			return
		}
		if opts, ok := r.fieldTable(pu, 1, "normalization options"); ok {
			tm.Mean = r.fieldFloats(opts, 0, "mean")
			tm.Std = r.fieldFloats(opts, 1, "std")
		}
	})
	if stats, ok := r.fieldTable(t, 5, "stats"); ok {
		tm.Max = r.fieldFloats(stats, 0, "stats max")
		tm.Min = r.fieldFloats(stats, 1, "stats min")
	}
	return tm
}

// readZipTail reads the zip archive that the TFLite metadata writer appends
// to a model file; a file without one yields no files. A member that cannot
// be read (a zip cut short, a bad checksum) is left out with a warning
// rather than failing the model: the model runs without its labels.
func readZipTail(raw []byte) (files map[string][]byte, warnings []string, err error) {
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		if errors.Is(err, zip.ErrFormat) {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	files = map[string][]byte{}
	for _, f := range zr.File {
		if f.UncompressedSize64 > maxAssociatedFile {
			return nil, nil, fmt.Errorf("%s: %d bytes exceeds %d", f.Name, f.UncompressedSize64, maxAssociatedFile)
		}
		data, err := readZipMember(f)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: unreadable in the model's zip archive (cut short?): %v", f.Name, err))
			continue
		}
		files[f.Name] = data
	}
	return files, warnings, nil
}

func readZipMember(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxAssociatedFile+1))
}

// encodeMetadata serializes md with the metadata schema.
func encodeMetadata(md *Metadata) []byte {
	b := flatbuffers.NewBuilder(1024)
	str := func(s string) flatbuffers.UOffsetT {
		if s == "" {
			return 0
		}
		return b.CreateString(s)
	}
	slotStr := func(slot int, off flatbuffers.UOffsetT) {
		if off != 0 {
			b.PrependUOffsetTSlot(slot, off, 0)
		}
	}
	files := func(fs []AssociatedFile) flatbuffers.UOffsetT {
		if len(fs) == 0 {
			return 0
		}
		offs := make([]flatbuffers.UOffsetT, len(fs))
		for i, f := range fs {
			name, desc, locale := str(f.Name), str(f.Description), str(f.Locale)
			b.StartObject(4)
			slotStr(0, name)
			slotStr(1, desc)
			b.PrependInt8Slot(2, int8(f.Type), 0)
			slotStr(3, locale)
			offs[i] = b.EndObject()
		}
		return tableVector(b, offs)
	}
	// vectorPair is a table whose two fields are float vectors, such as
	// NormalizationOptions (mean, std) and Stats (max, min).
	vectorPair := func(v0, v1 []float32) flatbuffers.UOffsetT {
		o0, o1 := floatVector(b, v0), floatVector(b, v1)
		b.StartObject(2)
		b.PrependUOffsetTSlot(0, o0, 0)
		b.PrependUOffsetTSlot(1, o1, 0)
		return b.EndObject()
	}
	tensor := func(tm TensorMetadata) flatbuffers.UOffsetT {
		name, desc := str(tm.Name), str(tm.Description)
		var content flatbuffers.UOffsetT
		if tm.Image {
			b.StartObject(2)
			switch tm.ColorSpace {
			case "rgb":
				b.PrependInt8Slot(0, colorSpaceRGB, 0)
			case "grayscale":
				b.PrependInt8Slot(0, colorSpaceGrayscale, 0)
			}
			props := b.EndObject()
			b.StartObject(3)
			b.PrependUint8Slot(0, contentImage, 0)
			b.PrependUOffsetTSlot(1, props, 0)
			content = b.EndObject()
		}
		var units flatbuffers.UOffsetT
		if len(tm.Mean) > 0 || len(tm.Std) > 0 {
			norm := vectorPair(tm.Mean, tm.Std) // NormalizationOptions
			b.StartObject(2)
			b.PrependUint8Slot(0, processNormalize, 0)
			b.PrependUOffsetTSlot(1, norm, 0)
			units = tableVector(b, []flatbuffers.UOffsetT{b.EndObject()})
		}
		var stats flatbuffers.UOffsetT
		if len(tm.Min) > 0 || len(tm.Max) > 0 {
			stats = vectorPair(tm.Max, tm.Min) // Stats
		}
		af := files(tm.AssociatedFiles)
		b.StartObject(7)
		slotStr(0, name)
		slotStr(1, desc)
		slotStr(3, content)
		slotStr(4, units)
		slotStr(5, stats)
		slotStr(6, af)
		return b.EndObject()
	}
	tensors := func(ts []TensorMetadata) flatbuffers.UOffsetT {
		offs := make([]flatbuffers.UOffsetT, len(ts))
		for i, tm := range ts {
			offs[i] = tensor(tm)
		}
		return tableVector(b, offs)
	}
	inputs, outputs := tensors(md.Inputs), tensors(md.Outputs)
	b.StartObject(5)
	b.PrependUOffsetTSlot(2, inputs, 0)
	b.PrependUOffsetTSlot(3, outputs, 0)
	subgraph := tableVector(b, []flatbuffers.UOffsetT{b.EndObject()})
	name, desc, version := str(md.Name), str(md.Description), str(md.Version)
	author, license := str(md.Author), str(md.License)
	af := files(md.AssociatedFiles)
	parser := str(md.MinParserVersion)
	if parser == 0 {
		parser = b.CreateString("1.0.0")
	}
	b.StartObject(8)
	slotStr(0, name)
	slotStr(1, desc)
	slotStr(2, version)
	b.PrependUOffsetTSlot(3, subgraph, 0)
	slotStr(4, author)
	slotStr(5, license)
	slotStr(6, af)
	slotStr(7, parser)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(metadataIdentifier))
	return b.FinishedBytes()
}

// WithMetadata returns a copy of m's header whose TFLITE_METADATA entry holds
// md (replacing any previous one). Buffers are shared with m.
func (m *Model) WithMetadata(md *Metadata) *Model {
	out := *m
	out.Buffers = append([][]byte(nil), m.Buffers...)
	out.Metadata = nil
	for _, e := range m.Metadata {
		if e.Name != MetadataName {
			out.Metadata = append(out.Metadata, e)
		}
	}
	out.Buffers = append(out.Buffers, encodeMetadata(md))
	out.Metadata = append(out.Metadata, MetadataEntry{Name: MetadataName, Buffer: len(out.Buffers) - 1})
	return &out
}

// EncodeWithFiles encodes m and appends md.Files as a zip archive, the way
// TFLite's metadata writer packs label files, so that the result is both a
// valid model and a valid zip.
func EncodeWithFiles(m *Model, files map[string][]byte) ([]byte, error) {
	data, err := Encode(m)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return data, nil
	}
	var buf bytes.Buffer
	buf.Write(data)
	zw := zip.NewWriter(&buf)
	zw.SetOffset(int64(len(data)))
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", name, err)
		}
		if _, err := w.Write(files[name]); err != nil {
			return nil, fmt.Errorf("pack %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("pack associated files: %w", err)
	}
	return buf.Bytes(), nil
}
