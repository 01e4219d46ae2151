package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedIconsAreGenerated fails when assets/icons differs from what
// the generator draws: run `go generate ./assets` and commit.
func TestCommittedIconsAreGenerated(t *testing.T) {
	dir := t.TempDir()
	os.Args = []string{"gen", "-out", dir}
	main()
	for _, ic := range icons() {
		for _, ext := range []string{".png", ".ico"} {
			got, err := os.ReadFile(filepath.Join("..", "icons", ic.name+ext))
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, ic.name+ext))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("icons/%s%s is stale: run go generate ./assets", ic.name, ext)
			}
		}
	}
}
