package recordings

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/switchboard-cc/switchboard/storage"
)

// LocalPath is where switchboard reads a recording's file: the node's root
// joined with the file's base name (names never hold separators, see
// Template), or "" when the node has no root.
func (s *Service) LocalPath(r *storage.Recording) string { return s.cfg.LocalPath(r) }

// LocalPath is where switchboard can read r's file ("" when the node has
// no root).
func (c Config) LocalPath(r *storage.Recording) string {
	root := c.Node(r.Node).Root
	if root == "" {
		return ""
	}
	name := fileName(r)
	if name == "" || name == "." || name == "/" || strings.Contains(name, "..") {
		return ""
	}
	return filepath.Join(root, name)
}

// fileFacts fills size and checksum when the file is readable under the
// node's root, and, when the PBX gave no duration, the duration from a WAV
// header. It reports whether the file was found.
func (s *Service) fileFacts(r *storage.Recording, wantDuration bool) bool {
	p := s.LocalPath(r)
	if p == "" {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("recording file not readable", "recording_id", r.ID, "path", p, "err", err)
		}
		return false
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		s.log.Warn("recording file not readable", "recording_id", r.ID, "path", p, "err", err)
		return true
	}
	r.SizeBytes = &n
	r.Checksum = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if wantDuration && r.DurationMS == 0 {
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			if d, err := WAVDuration(f); err == nil {
				r.DurationMS = d.Milliseconds()
			}
		}
	}
	return true
}

// WAVDuration reads a RIFF/WAVE header and returns data length ÷ byte rate.
func WAVDuration(r io.Reader) (time.Duration, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return 0, fmt.Errorf("not a RIFF/WAVE file")
	}
	var byteRate uint32
	for i := 0; i < 64; i++ { // bounded: a header has a handful of chunks
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return 0, fmt.Errorf("wav chunk: %w", err)
		}
		size := binary.LittleEndian.Uint32(ch[4:8])
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return 0, fmt.Errorf("wav fmt chunk of %d bytes", size)
			}
			body := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, body); err != nil {
				return 0, fmt.Errorf("wav fmt chunk: %w", err)
			}
			byteRate = binary.LittleEndian.Uint32(body[8:12])
		case "data":
			if byteRate == 0 {
				return 0, fmt.Errorf("wav data before fmt, or byte rate 0")
			}
			return time.Duration(float64(size) / float64(byteRate) * float64(time.Second)), nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size+size%2)); err != nil {
				return 0, fmt.Errorf("wav chunk %q: %w", ch[0:4], err)
			}
		}
	}
	return 0, fmt.Errorf("wav: no data chunk")
}
