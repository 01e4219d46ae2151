package tray

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"log/slog"
	"sync"

	"github.com/godbus/dbus/v5"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
)

const (
	notifyName  = "org.freedesktop.Notifications"
	notifyPath  = "/org/freedesktop/Notifications"
	notifyIface = "org.freedesktop.Notifications"
	// signInAction is the key of the "Sign in" button.
	signInAction = "sign-in"
)

// dbusNotifier shows notifications through org.freedesktop.Notifications
// on a private session bus connection, and signs in when the user presses a
// notification's "Sign in" button. Safe for concurrent use.
type dbusNotifier struct {
	conn     *dbus.Conn
	log      *slog.Logger
	onSignIn func(profile string)

	mu       sync.Mutex
	shown    *sync.Cond        // on mu: a Notify call ended
	inFlight int               // Notify calls not yet ended
	last     map[string]uint32 // profile → its last notification, to replace
	signIns  map[uint32]string // notification → profile it signs in
}

// newNotifier connects to the desktop's notification service. Without a
// session bus it returns a notifier that only logs.
func newNotifier(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier {
	conn, err := dialSession(ctx)
	if err != nil {
		log.Info("notifications off", "why", err)
		return logNotifier{log}
	}
	n := &dbusNotifier{conn: conn, log: log, onSignIn: onSignIn,
		last: map[string]uint32{}, signIns: map[uint32]string{}}
	n.shown = sync.NewCond(&n.mu)
	if err := conn.AddMatchSignal(
		dbus.WithMatchInterface(notifyIface),
		dbus.WithMatchMember("ActionInvoked"),
	); err != nil {
		log.Warn("notification actions off", "err", err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	go n.actions(sigs)
	return n
}

// actions handles ActionInvoked signals until the connection closes.
func (n *dbusNotifier) actions(sigs <-chan *dbus.Signal) {
	for sig := range sigs {
		if sig.Name != notifyIface+".ActionInvoked" || len(sig.Body) != 2 {
			continue
		}
		id, _ := sig.Body[0].(uint32)
		key, _ := sig.Body[1].(string)
		n.mu.Lock()
		profile, ok := n.signIns[id]
		// The button of a notification whose Notify call has not
		// returned its id to us yet: wait for that call.
		for !ok && n.inFlight > 0 {
			n.shown.Wait()
			profile, ok = n.signIns[id]
		}
		delete(n.signIns, id)
		n.mu.Unlock()
		if ok && key == signInAction {
			n.log.Info("sign in chosen in a notification", "profile", profile)
			n.onSignIn(profile)
		}
	}
}

func (n *dbusNotifier) notify(ctx context.Context, nt notice) error {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	n.mu.Lock()
	replaces := n.last[nt.Profile]
	n.inFlight++
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		n.inFlight--
		n.mu.Unlock()
		n.shown.Broadcast()
	}()
	actions := []string{}
	urgency := byte(1) // normal
	if nt.SignIn {
		actions = []string{signInAction, "Sign in"}
		urgency = 2 // critical: stays until the user acts
	}
	hints := map[string]dbus.Variant{
		"urgency":       dbus.MakeVariant(urgency),
		"desktop-entry": dbus.MakeVariant("mcp-token-broker"),
	}
	if nt.Icon != "" {
		if img, ok := imageData(nt.Icon); ok {
			hints["image-data"] = dbus.MakeVariant(img)
		}
	}
	var id uint32
	err := n.conn.Object(notifyName, notifyPath).CallWithContext(ctx, notifyIface+".Notify", 0,
		"MCP token broker", replaces, "", nt.Summary, nt.Body, actions, hints, int32(-1)).Store(&id)
	if err != nil {
		return fmt.Errorf("showing a notification: %w", err)
	}
	n.mu.Lock()
	if nt.Profile != "" {
		n.last[nt.Profile] = id
	}
	if nt.SignIn {
		n.signIns[id] = nt.Profile
	}
	n.mu.Unlock()
	return nil
}

func (n *dbusNotifier) close() { n.conn.Close() }

// notificationImage is the image-data hint: (iiibiiay) raw RGBA.
type notificationImage struct {
	Width, Height, Rowstride int32
	HasAlpha                 bool
	BitsPerSample, Channels  int32
	Data                     []byte
}

// imageData is the named icon as a notification image.
func imageData(name string) (notificationImage, bool) {
	img, err := png.Decode(bytes.NewReader(assets.PNG(name)))
	if err != nil {
		return notificationImage{}, false
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		return notificationImage{}, false
	}
	b := n.Bounds()
	return notificationImage{Width: int32(b.Dx()), Height: int32(b.Dy()), Rowstride: int32(n.Stride),
		HasAlpha: true, BitsPerSample: 8, Channels: 4, Data: n.Pix}, true
}

// logNotifier only logs.
type logNotifier struct{ log *slog.Logger }

func (l logNotifier) notify(ctx context.Context, n notice) error {
	l.log.Info("notification not shown", "summary", n.Summary)
	return nil
}

func (l logNotifier) close() {}
