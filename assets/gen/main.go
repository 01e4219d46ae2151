// Command gen draws the tray icons in assets/icons: one per broker state, as
// a 32 px PNG (Linux and macOS trays scale it) and as an ICO with 16, 24, 32
// and 48 px images (Windows). The shapes are described in a 32-unit square
// and rasterised at each size with 8×8 supersampling, so that small sizes
// stay crisp instead of being downscaled blurs. Each icon is a coloured badge
// with a dark rim and a light glyph, readable on light and dark panels; the
// glyph differs per state so that colour is not the only cue.
//
// Run it through `go generate ./assets`; the outputs are committed.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"log"
	"math"
	"os"
	"path/filepath"
)

func main() {
	out := flag.String("out", "icons", "output folder")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, ic := range icons() {
		pngData, err := encodePNG(render(ic, 32))
		if err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(*out, ic.name+".png"), pngData, 0o644); err != nil {
			log.Fatal(err)
		}
		ico := encodeICO(ic)
		if err := os.WriteFile(filepath.Join(*out, ic.name+".ico"), ico, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// icoSizes are the images in each ICO file.
var icoSizes = []int{16, 24, 32, 48}

// shape is a signed distance function in the 32-unit design square:
// negative inside, positive outside, in units.
type shape func(x, y float64) float64

// layer paints one shape in one colour.
type layer struct {
	s shape
	c color.NRGBA
}

// icon is a named stack of layers, painted bottom to top.
type icon struct {
	name   string
	layers []layer
}

var (
	white = color.NRGBA{0xff, 0xff, 0xff, 0xff}
	ink   = color.NRGBA{0x26, 0x1d, 0x05, 0xff}
)

// badge is a disc with a darker rim.
func badge(fill, rim color.NRGBA) []layer {
	return []layer{
		{circle(16, 16, 15), rim},
		{circle(16, 16, 13.6), fill},
	}
}

func icons() []icon {
	var (
		grey      = color.NRGBA{0x7c, 0x84, 0x8e, 0xff}
		greyRim   = color.NRGBA{0x3f, 0x45, 0x4d, 0xff}
		green     = color.NRGBA{0x1f, 0x9d, 0x55, 0xff}
		greenRim  = color.NRGBA{0x0d, 0x55, 0x2c, 0xff}
		blue      = color.NRGBA{0x25, 0x74, 0xd9, 0xff}
		blueRim   = color.NRGBA{0x10, 0x3f, 0x7e, 0xff}
		amber     = color.NRGBA{0xf5, 0xb0, 0x1c, 0xff}
		amberRim  = color.NRGBA{0x7a, 0x50, 0x00, 0xff}
		red       = color.NRGBA{0xd9, 0x32, 0x2b, 0xff}
		redRim    = color.NRGBA{0x7a, 0x12, 0x0e, 0xff}
		stroke    = 3.4
		exclaimed = func(c color.NRGBA, top, bottom, dot float64) []layer {
			return []layer{
				{segment(16, top, 16, bottom, stroke), c},
				{circle(16, dot, 2.0), c},
			}
		}
	)
	key := []layer{
		{ring(11, 16, 4.3, 2.9), white},
		{segment(15, 16, 25, 16, 2.9), white},
		{segment(24.2, 16, 24.2, 20.5, 2.9), white},
		{segment(20.2, 16, 20.2, 19.5, 2.6), white},
	}
	check := []layer{
		{polyline(stroke, 9, 16.5, 14, 21.5, 23, 11), white},
	}
	// A circular arrow, clockwise, with its head at the upper right.
	refresh := []layer{
		{arc(16, 16, 7.4, 2.9, 25, 292), white},
		{arrowHead(16, 16, 7.4, 292, 4.6, 4.4), white},
	}
	tri := roundTriangle(16, 2.5, 30.2, 28.6, 1.8, 28.6, 1.6)
	return []icon{
		{"signed-out", append(badge(grey, greyRim), key...)},
		{"ok", append(badge(green, greenRim), check...)},
		{"refreshing", append(badge(blue, blueRim), refresh...)},
		{"warning", append([]layer{
			{tri, amberRim},
			{inset(tri, 1.4), amber},
		}, exclaimed(ink, 11.5, 19.5, 23.8)...)},
		{"sign-in-required", append(badge(red, redRim), exclaimed(white, 8.5, 17.5, 22.8)...)},
	}
}

func cosd(a float64) float64 { return math.Cos(a * math.Pi / 180) }
func sind(a float64) float64 { return math.Sin(a * math.Pi / 180) }

func circle(cx, cy, r float64) shape {
	return func(x, y float64) float64 { return math.Hypot(x-cx, y-cy) - r }
}

func ring(cx, cy, r, w float64) shape {
	return func(x, y float64) float64 { return math.Abs(math.Hypot(x-cx, y-cy)-r) - w/2 }
}

// segment is a line from (x1,y1) to (x2,y2), w wide, with round caps.
func segment(x1, y1, x2, y2, w float64) shape {
	return func(x, y float64) float64 { return segDist(x, y, x1, y1, x2, y2) - w/2 }
}

func segDist(x, y, x1, y1, x2, y2 float64) float64 {
	dx, dy := x2-x1, y2-y1
	t := ((x-x1)*dx + (y-y1)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-(x1+t*dx), y-(y1+t*dy))
}

// polyline joins the points with w-wide round strokes.
func polyline(w float64, pts ...float64) shape {
	return func(x, y float64) float64 {
		d := math.Inf(1)
		for i := 0; i+3 < len(pts); i += 2 {
			d = math.Min(d, segDist(x, y, pts[i], pts[i+1], pts[i+2], pts[i+3]))
		}
		return d - w/2
	}
}

// arc is the part of a ring from angle `from` to `to` (degrees, clockwise
// in screen coordinates, 0 = east), with round caps.
func arc(cx, cy, r, w, from, to float64) shape {
	return func(x, y float64) float64 {
		a := math.Atan2(y-cy, x-cx) * 180 / math.Pi
		for a < from {
			a += 360
		}
		if a <= to {
			return math.Abs(math.Hypot(x-cx, y-cy)-r) - w/2
		}
		d1 := math.Hypot(x-(cx+r*cosd(from)), y-(cy+r*sind(from)))
		d2 := math.Hypot(x-(cx+r*cosd(to)), y-(cy+r*sind(to)))
		return math.Min(d1, d2) - w/2
	}
}

// arrowHead is a triangle at angle a (degrees) on the circle (cx, cy, r),
// pointing clockwise along it: len long, 2×half wide at its base.
func arrowHead(cx, cy, r, a, length, half float64) shape {
	px, py := cx+r*cosd(a), cy+r*sind(a)
	tx, ty := -sind(a), cosd(a) // clockwise tangent
	nx, ny := cosd(a), sind(a)
	return triangle(px+tx*length, py+ty*length,
		px+nx*half-tx*0.6, py+ny*half-ty*0.6,
		px-nx*half-tx*0.6, py-ny*half-ty*0.6)
}

// triangle is the filled triangle with the given corners.
func triangle(ax, ay, bx, by, cx, cy float64) shape {
	return func(x, y float64) float64 {
		d := math.Min(segDist(x, y, ax, ay, bx, by),
			math.Min(segDist(x, y, bx, by, cx, cy), segDist(x, y, cx, cy, ax, ay)))
		if inTriangle(x, y, ax, ay, bx, by, cx, cy) {
			return -d
		}
		return d
	}
}

// roundTriangle is a triangle with corners rounded by r (the shape grows by
// r, so the corners given are those of the inner triangle).
func roundTriangle(ax, ay, bx, by, cx, cy, r float64) shape {
	// Move the corners inwards by r so that the rounded shape keeps the
	// outline given.
	mx, my := (ax+bx+cx)/3, (ay+by+cy)/3
	in := func(px, py float64) (float64, float64) {
		dx, dy := mx-px, my-py
		l := math.Hypot(dx, dy)
		return px + dx/l*r*1.8, py + dy/l*r*1.8
	}
	ax, ay = in(ax, ay)
	bx, by = in(bx, by)
	cx, cy = in(cx, cy)
	t := triangle(ax, ay, bx, by, cx, cy)
	return func(x, y float64) float64 { return t(x, y) - r }
}

// inset shrinks a shape by d units.
func inset(s shape, d float64) shape {
	return func(x, y float64) float64 { return s(x, y) + d }
}

func inTriangle(x, y, ax, ay, bx, by, cx, cy float64) bool {
	s := func(px, py, qx, qy, rx, ry float64) float64 { return (px-rx)*(qy-ry) - (qx-rx)*(py-ry) }
	d1 := s(x, y, ax, ay, bx, by)
	d2 := s(x, y, bx, by, cx, cy)
	d3 := s(x, y, cx, cy, ax, ay)
	neg := d1 < 0 || d2 < 0 || d3 < 0
	pos := d1 > 0 || d2 > 0 || d3 > 0
	return !(neg && pos)
}

// render rasterises ic at size×size pixels.
func render(ic icon, size int) *image.NRGBA {
	const ss = 8 // samples per axis
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	scale := 32 / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b, a float64 // premultiplied, 0..1
			for _, l := range ic.layers {
				n := 0
				for sy := 0; sy < ss; sy++ {
					for sx := 0; sx < ss; sx++ {
						x := (float64(px) + (float64(sx)+0.5)/ss) * scale
						y := (float64(py) + (float64(sy)+0.5)/ss) * scale
						if l.s(x, y) <= 0 {
							n++
						}
					}
				}
				cov := float64(n) / (ss * ss) * float64(l.c.A) / 255
				r = float64(l.c.R)/255*cov + r*(1-cov)
				g = float64(l.c.G)/255*cov + g*(1-cov)
				b = float64(l.c.B)/255*cov + b*(1-cov)
				a = cov + a*(1-cov)
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(px, py, color.NRGBA{
				R: uint8(math.Round(r / a * 255)),
				G: uint8(math.Round(g / a * 255)),
				B: uint8(math.Round(b / a * 255)),
				A: uint8(math.Round(a * 255)),
			})
		}
	}
	return img
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encoding png: %w", err)
	}
	return buf.Bytes(), nil
}

// encodeICO writes an ICO with one 32-bit BMP image per size in icoSizes
// (BMP rather than PNG entries: every Windows version's LoadImage reads
// them).
func encodeICO(ic icon) []byte {
	var images [][]byte
	for _, size := range icoSizes {
		images = append(images, dib(render(ic, size)))
	}
	var buf bytes.Buffer
	le := binary.LittleEndian
	w16 := func(v uint16) { buf.Write(le.AppendUint16(nil, v)) }
	w32 := func(v uint32) { buf.Write(le.AppendUint32(nil, v)) }
	w16(0)
	w16(1) // icon
	w16(uint16(len(images)))
	offset := 6 + 16*len(images)
	for i, size := range icoSizes {
		buf.WriteByte(byte(size))
		buf.WriteByte(byte(size))
		buf.WriteByte(0) // palette
		buf.WriteByte(0)
		w16(1)  // planes
		w16(32) // bits per pixel
		w32(uint32(len(images[i])))
		w32(uint32(offset))
		offset += len(images[i])
	}
	for _, im := range images {
		buf.Write(im)
	}
	return buf.Bytes()
}

// dib is the ICO form of one image: a BITMAPINFOHEADER with double height,
// BGRA rows bottom-up, then an all-zero AND mask (the alpha channel rules).
func dib(img *image.NRGBA) []byte {
	size := img.Bounds().Dx()
	le := binary.LittleEndian
	maskStride := ((size + 31) / 32) * 4
	var buf bytes.Buffer
	for _, v := range []uint32{40, uint32(size), uint32(size * 2)} {
		buf.Write(le.AppendUint32(nil, v))
	}
	buf.Write(le.AppendUint16(nil, 1))
	buf.Write(le.AppendUint16(nil, 32))
	for _, v := range []uint32{0, uint32(size*size*4 + maskStride*size), 0, 0, 0, 0} {
		buf.Write(le.AppendUint32(nil, v))
	}
	for y := size - 1; y >= 0; y-- {
		for x := 0; x < size; x++ {
			c := img.NRGBAAt(x, y)
			buf.Write([]byte{c.B, c.G, c.R, c.A})
		}
	}
	buf.Write(make([]byte, maskStride*size))
	return buf.Bytes()
}
