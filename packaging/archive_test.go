package packaging_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkArchive finds the archive in dist whose name ends with suffix, reads
// member (in the archive's top folder) and checks it with check.
func checkArchive(t *testing.T, dist, suffix, member string, check func([]byte) error) {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dist, "*"+suffix))
	if len(matches) != 1 {
		t.Errorf("no single *%s in dist: %v", suffix, matches)
		return
	}
	top := strings.TrimSuffix(filepath.Base(matches[0]), filepath.Ext(matches[0]))
	top = strings.TrimSuffix(top, ".tar")
	want := top + "/" + member
	var data []byte
	if strings.HasSuffix(suffix, ".zip") {
		zr, err := zip.OpenReader(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		for _, f := range zr.File {
			if f.Name == want {
				rc, _ := f.Open()
				data, _ = io.ReadAll(rc)
				rc.Close()
			}
		}
	} else {
		f, err := os.Open(matches[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == want {
				data, _ = io.ReadAll(tr)
			}
		}
	}
	if data == nil {
		t.Errorf("%s has no %s", matches[0], want)
		return
	}
	if err := check(data); err != nil {
		t.Errorf("%s in %s: %v", want, filepath.Base(matches[0]), err)
	}
}

func elfMachine(want string) func([]byte) error {
	return func(b []byte) error {
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			return err
		}
		if f.Machine.String() != want {
			return fmt.Errorf("machine %s, want %s", f.Machine, want)
		}
		return nil
	}
}

// peSubsystem checks the Windows subsystem: 2 GUI, 3 console.
func peSubsystem(want uint16) func([]byte) error {
	return func(b []byte) error {
		f, err := pe.NewFile(bytes.NewReader(b))
		if err != nil {
			return err
		}
		oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
		if !ok {
			return fmt.Errorf("not a 64-bit PE file")
		}
		if oh.Subsystem != want {
			return fmt.Errorf("subsystem %d, want %d", oh.Subsystem, want)
		}
		return nil
	}
}

// machO checks a macOS binary's CPU; an arm64 one must carry a code
// signature (Go's linker signs it ad hoc), or macOS kills it at start.
func machO(cpu macho.Cpu) func([]byte) error {
	return func(b []byte) error {
		f, err := macho.NewFile(bytes.NewReader(b))
		if err != nil {
			return err
		}
		if f.Type != macho.TypeExec || f.Cpu != cpu {
			return fmt.Errorf("a Mach-O %v for %v, want an executable for %v", f.Type, f.Cpu, cpu)
		}
		if cpu != macho.CpuArm64 {
			return nil
		}
		const lcCodeSignature = 0x1d
		for _, l := range f.Loads {
			if raw := l.Raw(); len(raw) >= 4 && f.ByteOrder.Uint32(raw) == lcCodeSignature {
				return nil
			}
		}
		return fmt.Errorf("no code signature (LC_CODE_SIGNATURE): Apple silicon refuses to run it")
	}
}

func nonEmpty(b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("empty")
	}
	return nil
}
