package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the parser: it must never panic, and
// must either return a valid config or an *Error wrapping ErrInvalid that
// leaves the base untouched.
func FuzzLoad(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("server:\n  listen: 127.0.0.1:1\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		base := Defaults()
		got, _, err := Parse("fuzz.yaml", data, base)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if !reflect.DeepEqual(got, base) {
				t.Fatalf("rejected input changed the config")
			}
			return
		}
		if verr := got.Validate(); verr != nil {
			t.Fatalf("accepted an invalid config: %v", verr)
		}
	})
}
