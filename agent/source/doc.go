// Package source produces the frames the agent classifies: image files from
// a directory (optionally watched for new ones), snapshots polled from an
// HTTP(S) URL, raw frames decoded by an ffmpeg child process from a camera
// stream, device or video file, and a stream of concatenated PNG and JPEG
// images on standard input.
//
// Every source implements [Source]. A [Pump] runs a source in a goroutine
// and delivers its frames on a bounded channel, limiting the rate and, for
// live sources, dropping frames rather than falling behind.
package source
