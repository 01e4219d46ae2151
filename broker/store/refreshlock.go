package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// RefreshLockFile is the name of a profile's refresh lock in the state
// folder ("msal-refresh-PROFILE.lock").
func RefreshLockFile(profile string) string { return "msal-refresh-" + profile + ".lock" }

// RefreshLock takes the profile's refresh lock, which serialises read →
// refresh → write of its tokens across processes (and goroutines): of N
// callers that find the token due at once, the first refreshes and the
// others find the new token in the cache. It is apart from the cache's
// own lock, which Replace and Export take inside the refresh. It waits
// at most until ctx is done (DefaultTimeout without a deadline) and
// returns the function that releases it.
func (s *Store) RefreshLock(ctx context.Context, profile string) (func(), error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	// A Flock per call: one Flock object is not a lock between goroutines.
	l := flock.New(filepath.Join(s.dir, RefreshLockFile(profile)), flock.SetPermissions(0o600))
	ok, err := l.TryLockContext(ctx, 10*time.Millisecond)
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for another broker process that is refreshing the token of profile %q (it holds %s): %w", profile, l.Path(), err)
	}
	return func() { l.Unlock() }, nil
}
