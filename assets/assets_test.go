package assets

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
	"testing"
)

func TestIcons(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, name := range Names() {
		img, err := png.Decode(bytes.NewReader(PNG(name)))
		if err != nil {
			t.Fatalf("%s.png: %v", name, err)
		}
		if got := img.Bounds(); got != image.Rect(0, 0, 32, 32) {
			t.Errorf("%s.png is %v, want 32×32", name, got)
		}
		// Corners transparent, centre opaque: a badge, not a square.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("%s.png: corner not transparent", name)
		}
		if _, _, _, a := img.At(16, 20).RGBA(); a != 0xffff {
			t.Errorf("%s.png: centre not opaque", name)
		}
		if other, dup := seen[string(PNG(name))]; dup {
			t.Errorf("%s.png is the same picture as %s.png", name, other)
		}
		seen[string(PNG(name))] = name

		ico := ICO(name)
		if len(ico) < 6 || binary.LittleEndian.Uint16(ico[2:]) != 1 {
			t.Fatalf("%s.ico: not an icon file", name)
		}
		n := int(binary.LittleEndian.Uint16(ico[4:]))
		var sizes []int
		for i := range n {
			e := ico[6+16*i:]
			size := int(e[0])
			length := binary.LittleEndian.Uint32(e[8:])
			off := binary.LittleEndian.Uint32(e[12:])
			if int(off+length) > len(ico) {
				t.Errorf("%s.ico: image %d runs past the end", name, i)
			}
			if w := binary.LittleEndian.Uint32(ico[off+4:]); int(w) != size {
				t.Errorf("%s.ico: image %d is %d wide, directory says %d", name, i, w, size)
			}
			sizes = append(sizes, size)
		}
		if want := []int{16, 24, 32, 48}; !equal(sizes, want) {
			t.Errorf("%s.ico sizes %v, want %v", name, sizes, want)
		}
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestUnknownIconPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("PNG of an unknown name did not panic")
		}
	}()
	PNG("nope")
}
