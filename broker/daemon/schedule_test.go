package daemon

import (
	"testing"
	"time"
)

func TestRefreshAtAndJitterBounds(t *testing.T) {
	t.Parallel()
	exp := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		refreshBefore time.Duration
		maxJitter     time.Duration
	}{
		{"default 15m: jitter 1m", 15 * time.Minute, time.Minute},
		{"5m: jitter 30s", 5 * time.Minute, 30 * time.Second},
		{"6m: jitter 36s", 6 * time.Minute, 36 * time.Second},
		{"50m: jitter capped at 1m", 50 * time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			latest := exp.Add(-tt.refreshBefore)
			if got := refreshAt(exp, tt.refreshBefore, 0); !got.Equal(latest) {
				t.Errorf("u=0: %v, want %v", got, latest)
			}
			for _, u := range []float64{0, 0.25, 0.5, 0.999999} {
				got := refreshAt(exp, tt.refreshBefore, u)
				if got.After(latest) {
					t.Errorf("u=%v: %v is later than %v", u, got, latest)
				}
				if got.Before(latest.Add(-tt.maxJitter)) {
					t.Errorf("u=%v: %v is earlier than %v", u, got, latest.Add(-tt.maxJitter))
				}
			}
			if got, want := refreshAt(exp, tt.refreshBefore, 0.5), latest.Add(-tt.maxJitter/2); !got.Equal(want) {
				t.Errorf("u=0.5: %v, want %v", got, want)
			}
		})
	}
}

func TestNextRefreshNeverTight(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	// A token already inside the refresh window (an authority that hands
	// out 6-minute tokens while refresh_before is 15m): not before 30 s.
	if got := nextRefresh(now, now.Add(6*time.Minute), 15*time.Minute, 0); !got.Equal(now.Add(3 * time.Minute)) {
		t.Errorf("6m token: %v, want halfway", got.Sub(now))
	}
	if got := nextRefresh(now, now.Add(20*time.Second), 15*time.Minute, 0); got.Sub(now) != minRefreshGap {
		t.Errorf("20s token: %v, want %v", got.Sub(now), minRefreshGap)
	}
	if got := nextRefresh(now, now.Add(time.Hour), 15*time.Minute, 0); !got.Equal(now.Add(45 * time.Minute)) {
		t.Errorf("1h token: %v, want 45m", got.Sub(now))
	}
}

func TestBackoffSequenceAndCap(t *testing.T) {
	t.Parallel()
	// u close to 1 gives the full step; u = 0 half of it (never < 1 s).
	want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300}
	for i, w := range want {
		n := i + 1
		full := w * time.Second
		if got := backoff(n, 0.9999999); got < full-time.Millisecond || got > full {
			t.Errorf("backoff(%d, ~1) = %v, want %v", n, got, full)
		}
		lo := max(full/2, time.Second)
		if got := backoff(n, 0); got != lo {
			t.Errorf("backoff(%d, 0) = %v, want %v", n, got, lo)
		}
	}
	for _, n := range []int{0, 40, 1000} {
		if got := backoff(n, 0.5); got < time.Second || got > backoffMax {
			t.Errorf("backoff(%d) = %v out of [1s, 5m]", n, got)
		}
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	if got := retryDelay(1, 2*time.Minute, 0.5); got != 2*time.Minute {
		t.Errorf("Retry-After 2m: %v", got)
	}
	if got := retryDelay(9, 10*time.Second, 0.9999999); got < 250*time.Second {
		t.Errorf("Retry-After shorter than the backoff: %v, want the backoff", got)
	}
	if got := retryDelay(1, 48*time.Hour, 0); got != retryAfterMax {
		t.Errorf("Retry-After 48h: %v, want capped at %v", got, retryAfterMax)
	}
}

// TestNextRefreshNeverLate is the DESIGN.md contract at its boundaries: a
// refresh is never later than the moment refresh_before is left while
// that moment is ahead (jitter only moves it earlier), and never in a
// tight loop.
func TestNextRefreshNeverLate(t *testing.T) {
	t.Parallel()
	issued := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name     string
		now      time.Duration // after issue
		lifetime time.Duration
		rb       time.Duration
		u        float64
		want     time.Duration // after issue
	}{
		{"1h token, 15m, no jitter", 0, time.Hour, 15 * time.Minute, 0, 45 * time.Minute},
		{"1h token, 15m, half jitter", 0, time.Hour, 15 * time.Minute, 0.5, 44*time.Minute + 30*s},
		// The report: a 420 s token accepted 95 s after issue with
		// refresh_before 5m; the jittered time (90 s) is within 30 s of
		// now. It used to go to halfway (257 s); it must be at 120 s.
		{"420s token late, jittered time within the gap", 95 * s, 420 * s, 5 * time.Minute, 1, 120 * s},
		{"jittered time exactly the gap away", 60 * s, 420 * s, 5 * time.Minute, 1, 90 * s},
		{"jittered time inside the gap, latest beyond it", 70 * s, 420 * s, 5 * time.Minute, 1, 100 * s},
		{"latest 1 s ahead", 119 * s, 420 * s, 5 * time.Minute, 0, 120 * s},
		{"latest is now: already due, halfway", 120 * s, 420 * s, 5 * time.Minute, 0, 270 * s},
		{"6m token, 15m: halfway", 0, 6 * time.Minute, 15 * time.Minute, 0, 3 * time.Minute},
		{"40s token: not sooner than the gap", 0, 40 * s, 15 * time.Minute, 0, 30 * s},
		{"expired token: the gap", 10 * time.Minute, 6 * time.Minute, 15 * time.Minute, 0, 10*time.Minute + 30*s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now, exp := issued.Add(tt.now), issued.Add(tt.lifetime)
			got := nextRefresh(now, exp, tt.rb, tt.u)
			if want := issued.Add(tt.want); !got.Equal(want) {
				t.Errorf("nextRefresh = issue+%v, want issue+%v", got.Sub(issued), tt.want)
			}
			if latest := exp.Add(-tt.rb); latest.After(now) && got.After(latest) {
				t.Errorf("issue+%v is later than refresh_before allows (issue+%v)", got.Sub(issued), latest.Sub(issued))
			}
		})
	}
}
