package daemon

import (
	"math/rand/v2"
	"time"
)

// Scheduling constants. They are the contract of DESIGN.md: refresh when
// less than refresh_before is left, jitter only earlier (≤10% of
// refresh_before, ≤1 min), temporary failures back off from 1 s to 5 min,
// and the wall clock is looked at at least every 30 s so that a refresh
// that fell due while the machine slept happens within a minute of waking.
const (
	DefaultRefreshBefore = 15 * time.Minute
	maxJitter            = time.Minute
	jitterDivisor        = 10
	backoffMin           = time.Second
	backoffMax           = 5 * time.Minute
	// retryAfterMax caps an authority's Retry-After, so that a silly value
	// does not park a profile for a day.
	retryAfterMax = 30 * time.Minute
	// tickEvery is the longest the refresher sleeps without reading the
	// wall clock.
	tickEvery = 30 * time.Second
	// minRefreshGap is the shortest time between two scheduled refreshes,
	// even when the authority hands out tokens that are already due.
	minRefreshGap = 30 * time.Second
	// misconfiguredRetry is the shortest wait before a misconfigured
	// profile (or an untrusted certificate) is probed again: the backoff
	// takes it on from there to backoffMax.
	misconfiguredRetry = time.Minute
	// askGap is the shortest time between two attempts that requests
	// (token, headers) ask for while a failure waits for its retry.
	askGap = 5 * time.Second
	// wakeSlack is how much further the wall clock may run than the
	// monotonic one during a wait before the refresher takes it for a
	// wake-up from sleep.
	wakeSlack = time.Minute
)

// Clock is the daemon's view of time. Now is the wall clock (after a
// suspend it jumps); After waits on the monotonic clock, which does not
// advance while the machine sleeps. Safe for concurrent use.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// jitterFor returns the largest jitter for refreshBefore: 10% of it, at
// most one minute.
func jitterFor(refreshBefore time.Duration) time.Duration {
	return min(refreshBefore/jitterDivisor, maxJitter)
}

// refreshAt returns when to refresh a token that expires at exp: when
// refreshBefore is left, moved earlier by u·jitterFor(refreshBefore)
// (u in [0,1)). It is never later than exp-refreshBefore.
func refreshAt(exp time.Time, refreshBefore time.Duration, u float64) time.Time {
	j := time.Duration(u * float64(jitterFor(refreshBefore)))
	return exp.Add(-refreshBefore - j)
}

// nextRefresh is refreshAt, never later than the moment refreshBefore is
// left (exp-refreshBefore) while that moment is still ahead, and never
// sooner than minRefreshGap after now unless that moment comes first.
// A token already past its refresh time (it lives shorter than
// refreshBefore) is refreshed halfway to its expiry, at least
// minRefreshGap after now, so that short-lived tokens cannot cause a
// tight loop.
func nextRefresh(now, exp time.Time, refreshBefore time.Duration, u float64) time.Time {
	at := refreshAt(exp, refreshBefore, u)
	latest := exp.Add(-refreshBefore)
	earliest := now.Add(minRefreshGap)
	if latest.After(now) {
		return minTime(maxTime(at, earliest), latest)
	}
	if half := now.Add(exp.Sub(now) / 2); half.After(earliest) {
		return half
	}
	return earliest
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// backoff returns the wait before retry number n (1 for the first retry
// after a failure): 1 s, 2 s, 4 s, … capped at 5 min, with "equal jitter"
// (between half and all of the step), never below 1 s.
func backoff(n int, u float64) time.Duration {
	step := backoffMax
	if n < 1 {
		n = 1
	}
	if n <= 30 {
		step = min(backoffMin<<(n-1), backoffMax)
	}
	d := step/2 + time.Duration(u*float64(step/2))
	return max(d, backoffMin)
}

// retryDelay is backoff honouring the authority's Retry-After: never
// sooner than it asked (up to retryAfterMax).
func retryDelay(n int, retryAfter time.Duration, u float64) time.Duration {
	return max(backoff(n, u), min(retryAfter, retryAfterMax))
}

// randFloat is the default source of jitter.
func randFloat() float64 { return rand.Float64() }
