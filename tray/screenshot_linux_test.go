package tray

import (
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

var screenshotOut = flag.String("screenshot", "", "write the screenshot of the open tray menu to this file (docs/tray.png)")

// TestScreenshot shows the tray under a real tray host, opens its menu with
// a mouse click (xdotool) and takes a screenshot. The icon must be drawn by
// the host and the menu must open. With -screenshot=PATH the picture is
// saved there (the README's docs/tray.png).
func TestScreenshot(t *testing.T) {
	convert := desktoptest.Need(t, "convert", "imagemagick")
	display := desktoptest.Need(t, "display", "imagemagick")
	d := newDesktop(t)
	// A calm desktop background, so that the picture reads like a desktop.
	bg := filepath.Join(t.TempDir(), "bg.png")
	if out, err := exec.Command(convert, "-size", "800x500", "gradient:#5b7a99-#26364a", bg).CombinedOutput(); err != nil {
		t.Fatalf("drawing a background: %v: %s", err, out)
	}
	// display sets the root window's background and exits 1 (it lost
	// its window): the picture is there all the same.
	setBG := exec.Command(display, "-window", "root", bg)
	setBG.Env = append(os.Environ(), "DISPLAY="+d.display)
	setBG.Run()

	desktoptest.StartTrayHost(t, d.bus, d.display)
	h := startHelper(t, d, "HOME=/home/alice") // paths show as ~/…
	now := time.Now()
	st := signedIn(now, 47*time.Minute)
	st.Profiles[0].Targets = append(st.Profiles[0].Targets[:1],
		state.Target{Client: "copilot", Server: "data", Path: "/home/alice/.copilot/mcp-config.json", State: state.TargetOK, Written: st.Profiles[0].Targets[0].Written},
		state.Target{Client: "env-file", Path: "/home/alice/.config/mcp-token-broker/data.env", State: state.TargetOK, Written: st.Profiles[0].Targets[0].Written})
	h.set(t, st)
	s := d.waitItem(t)
	s.waitIcon(t, assets.OK)
	s.WaitEntry(t, "alice@contoso.com — token valid until ")

	// Find the icon on screen by its colour and click it.
	shot := filepath.Join(t.TempDir(), "bar.png")
	var x, y int
	waitFor(t, "the tray host to draw the icon", func() bool {
		desktoptest.Screenshot(t, d.display, shot)
		var ok bool
		x, y, ok = findColour(t, shot, 0x1f, 0x9d, 0x55)
		return ok
	})
	desktoptest.X(t, d.display, "xdotool", "xdotool", "mousemove", strconv.Itoa(x), strconv.Itoa(y), "click", "1")
	out := filepath.Join(t.TempDir(), "menu.png")
	waitFor(t, "the menu to open", func() bool {
		time.Sleep(300 * time.Millisecond)
		desktoptest.Screenshot(t, d.display, out)
		return menuOpen(t, out)
	})
	if *screenshotOut != "" {
		if b, err := exec.Command(convert, out, "-crop", "570x350+230+0", "+repage", *screenshotOut).CombinedOutput(); err != nil {
			t.Fatalf("cropping: %v: %s", err, b)
		}
		t.Logf("screenshot written to %s", *screenshotOut)
	}
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// findColour returns the centre of the pixels of colour (r, g, b) (±8).
func findColour(t *testing.T, path string, r, g, b uint8) (x, y int, ok bool) {
	img := readPNG(t, path)
	var n, sx, sy int
	near := func(a, b uint8) bool { return int(a)-int(b) < 8 && int(b)-int(a) < 8 }
	bounds := img.Bounds()
	for py := bounds.Min.Y; py < bounds.Max.Y; py++ {
		for px := bounds.Min.X; px < bounds.Max.X; px++ {
			cr, cg, cb, _ := img.At(px, py).RGBA()
			if near(uint8(cr>>8), r) && near(uint8(cg>>8), g) && near(uint8(cb>>8), b) {
				n++
				sx += px
				sy += py
			}
		}
	}
	if n < 20 {
		return 0, 0, false
	}
	return sx / n, sy / n, true
}

// menuOpen reports whether a light menu is drawn below the bar: a large
// area of near-white pixels, which neither the background nor the bar has.
func menuOpen(t *testing.T, path string) bool {
	img := readPNG(t, path)
	light := 0
	b := img.Bounds()
	for y := 40; y < b.Max.Y; y += 2 {
		for x := 0; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 > 0xe0 && g>>8 > 0xe0 && bl>>8 > 0xe0 {
				light++
			}
		}
	}
	return light > 5000
}
