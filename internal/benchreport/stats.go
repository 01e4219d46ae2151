//go:build linux

package main

import (
	"fmt"
	"slices"
	"time"
)

// durations is a set of timed runs.
type durations []time.Duration

func (d durations) sorted() durations {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

func (d durations) median() time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := d.sorted()
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (d durations) min() time.Duration { return slices.Min(d) }
func (d durations) max() time.Duration { return slices.Max(d) }

// ms formats a duration in milliseconds with a precision that suits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// spread is "median (min–max, n runs)".
func (d durations) spread() string {
	return fmt.Sprintf("%s (%s–%s, n=%d)", ms(d.median()), trimUnit(ms(d.min())), ms(d.max()), len(d))
}

func trimUnit(s string) string { return s[:len(s)-3] }

// mb formats bytes as MiB.
func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }
