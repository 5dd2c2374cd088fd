package rollout

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// syncEvery is how many downloaded bytes may sit unsynced in the partial
// file. After a power loss the file may end with lost or zeroed blocks;
// the hash check at the end catches that and the download starts over.
const syncEvery = 4 << 20

// ErrHashMismatch is wrapped when a downloaded file does not have the
// manifest's SHA-256; the partial file is discarded.
var ErrHashMismatch = errors.New("rollout: downloaded file does not match the manifest's sha256")

// downloader fetches artifacts into dir/partial, resuming.
type downloader struct {
	client    *http.Client
	base      *url.URL
	allowHTTP bool
	dir       string
	idle      time.Duration // 0: defaultIdleTimeout
	progress  func(done, total int64)
}

// defaultIdleTimeout cuts a download that has stalled.
const defaultIdleTimeout = time.Minute

func (d *downloader) partialPath(a Artifact) string {
	return filepath.Join(d.dir, a.SHA256+".part")
}

func (d *downloader) resolve(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if !u.IsAbs() {
		if d.base == nil {
			return nil, fmt.Errorf("url %q is relative and control.rollout.hub_url is not set", raw)
		}
		u = d.base.ResolveReference(u)
	}
	if u.Scheme == "http" && !d.allowHTTP {
		return nil, fmt.Errorf("url %s is plain http; set control.rollout.allow_http to permit it", u.Redacted())
	}
	return u, nil
}

// fetch makes sure dir/partial/<sha>.part holds a's content and returns
// its path. Bytes already there are kept and the rest asked for with a
// Range request; a server that ignores Range sends the whole file again.
func (d *downloader) fetch(ctx context.Context, a Artifact) (string, error) {
	u, err := d.resolve(a.URL)
	if err != nil {
		return "", err
	}
	path := d.partialPath(a)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", err
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return "", err
	}
	if have > a.Size {
		if have, err = truncate(f); err != nil {
			return "", err
		}
	}
	if have < a.Size {
		if err := d.get(ctx, u, f, have, a.Size); err != nil {
			return "", err
		}
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.SHA256 {
		f.Close()
		os.Remove(path)
		return "", fmt.Errorf("%w: %s has %s, want %s", ErrHashMismatch, u.Redacted(), got[:12], a.SHA256[:12])
	}
	return path, nil
}

func truncate(f *os.File) (int64, error) {
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	return f.Seek(0, io.SeekStart)
}

// get appends bytes have..size-1 of u to f. A connection that sends
// nothing for idleTimeout is cut, so a stalled server cannot hold a
// rollout for ever; the bytes so far are kept for the next attempt.
func (d *downloader) get(ctx context.Context, u *url.URL, f *os.File, have, size int64) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	idle := d.idle
	if idle <= 0 {
		idle = defaultIdleTimeout
	}
	stalled := fmt.Errorf("no data for %v", idle)
	timer := time.AfterFunc(idle, func() { cancel(stalled) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, err := contentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != have {
			return fmt.Errorf("download %s: asked for bytes from %d, server sent Content-Range %q", u.Redacted(), have, resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if have, err = truncate(f); err != nil {
			return err
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// The server's file is shorter than what we hold: start over
		// next time rather than trusting either.
		truncate(f)
		return fmt.Errorf("download %s: server refused range from byte %d", u.Redacted(), have)
	default:
		return fmt.Errorf("download %s: %s", u.Redacted(), resp.Status)
	}
	buf := make([]byte, 64<<10)
	unsynced := int64(0)
	body := io.LimitReader(resp.Body, size-have+1)
	for {
		n, rerr := body.Read(buf)
		timer.Reset(idle)
		if n > 0 {
			if have+int64(n) > size {
				truncate(f)
				return fmt.Errorf("download %s: server sent more than the manifest's %d bytes", u.Redacted(), size)
			}
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("download %s: %w", u.Redacted(), err)
			}
			have += int64(n)
			unsynced += int64(n)
			if unsynced >= syncEvery {
				if err := f.Sync(); err != nil {
					return err
				}
				unsynced = 0
			}
			if d.progress != nil {
				d.progress(have, size)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			f.Sync()
			if cause := context.Cause(ctx); cause == stalled {
				rerr = cause
			}
			return fmt.Errorf("download %s: interrupted at byte %d of %d (resumable): %w", u.Redacted(), have, size, rerr)
		}
	}
	if have != size {
		return fmt.Errorf("download %s: got %d of %d bytes (resumable)", u.Redacted(), have, size)
	}
	return nil
}

// contentRangeStart reads the first byte position of "bytes a-b/n".
func contentRangeStart(h string) (int64, error) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, fmt.Errorf("not a byte range")
	}
	start, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("not a byte range")
	}
	return strconv.ParseInt(start, 10, 64)
}
