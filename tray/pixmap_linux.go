package tray

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
)

// systray (v1.12.2) turns the icon into the StatusNotifierItem IconPixmap
// by taking the low byte of each 16-bit, alpha-premultiplied component that
// image.Image.At().RGBA() returns. That is right only for opaque pixels:
// every anti-aliased edge pixel comes out as random colours (a rainbow
// fringe around the icon on every Linux panel). The protocol wants plain
// (non-premultiplied) ARGB32.
//
// So on Linux the tray hands systray its icon in a tiny format of its own,
// registered with package image, whose pixels answer RGBA() with each 8-bit
// non-premultiplied component repeated in both bytes: systray's low byte is
// then exactly the ARGB32 value the protocol wants.
const pixmapMagic = "mcp-token-broker-argb32\n"

func init() {
	image.RegisterFormat("mcp-token-broker-argb32", pixmapMagic, decodePixmap, decodePixmapConfig)
}

// pixmapIcon converts a PNG into the registered format.
func pixmapIcon(pngData []byte) []byte {
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return pngData // systray will log that it cannot read it
	}
	b := img.Bounds()
	n := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(n, n.Bounds(), img, b.Min, draw.Src)
	out := []byte(pixmapMagic)
	out = binary.BigEndian.AppendUint32(out, uint32(b.Dx()))
	out = binary.BigEndian.AppendUint32(out, uint32(b.Dy()))
	return append(out, n.Pix...)
}

func decodePixmapConfig(r io.Reader) (image.Config, error) {
	head := make([]byte, len(pixmapMagic)+8)
	if _, err := io.ReadFull(r, head); err != nil {
		return image.Config{}, err
	}
	w := binary.BigEndian.Uint32(head[len(pixmapMagic):])
	h := binary.BigEndian.Uint32(head[len(pixmapMagic)+4:])
	if w > 1024 || h > 1024 {
		return image.Config{}, errors.New("pixmap too large")
	}
	return image.Config{ColorModel: color.NRGBAModel, Width: int(w), Height: int(h)}, nil
}

func decodePixmap(r io.Reader) (image.Image, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	cfg, err := decodePixmapConfig(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	pix := data[len(pixmapMagic)+8:]
	if len(pix) != cfg.Width*cfg.Height*4 {
		return nil, errors.New("pixmap: wrong length")
	}
	return &straightImage{NRGBA: &image.NRGBA{Pix: pix, Stride: cfg.Width * 4,
		Rect: image.Rect(0, 0, cfg.Width, cfg.Height)}}, nil
}

// straightImage is an NRGBA image whose pixels report their straight
// (non-premultiplied) components from RGBA(), each byte doubled.
type straightImage struct{ *image.NRGBA }

func (s *straightImage) At(x, y int) color.Color { return straightColor(s.NRGBAAt(x, y)) }

type straightColor color.NRGBA

func (c straightColor) RGBA() (r, g, b, a uint32) {
	return uint32(c.R) * 0x101, uint32(c.G) * 0x101, uint32(c.B) * 0x101, uint32(c.A) * 0x101
}
