package auth

import (
	"errors"
	"time"
)

// Class says what a failure needs: nothing (retry later), the user, or a
// fix in the configuration or the app registration.
type Class int

const (
	// ClassUnknown is a failure that fits no other class.
	ClassUnknown Class = iota
	// ClassTemporary: network, timeout, 5xx, 429. Retry with backoff.
	ClassTemporary
	// ClassSignInRequired: the user must sign in again (invalid_grant,
	// interaction_required, AADSTS 50076, 50079, 65001, 70008, ...).
	ClassSignInRequired
	// ClassMisconfigured: the profile or app registration is wrong
	// (AADSTS 700016, 7000218, 650053, 500011, 90002, 9002327).
	ClassMisconfigured
)

func (c Class) String() string {
	switch c {
	case ClassTemporary:
		return "temporary"
	case ClassSignInRequired:
		return "sign-in-required"
	case ClassMisconfigured:
		return "misconfigured"
	}
	return "unknown"
}

// ErrSignInRequired matches (errors.Is) every error of ClassSignInRequired.
var ErrSignInRequired = errors.New("sign-in required")

// Error is a classified failure from the authority. Its message never
// contains a token.
type Error struct {
	Class Class
	// Code is the AADSTS number ("700016") when the authority sent one.
	Code string
	// OAuthError is the OAuth error ("invalid_grant").
	OAuthError string
	// Suberror is Entra's suberror, when sent.
	Suberror string
	// Message says what went wrong, lowercase, no final period.
	Message string
	// Hint says what to do next.
	Hint string
	// RetryAfter is the authority's Retry-After, when it sent one.
	RetryAfter time.Duration
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string { return e.Message }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrSignInRequired) true for sign-in failures.
func (e *Error) Is(target error) bool {
	return target == ErrSignInRequired && e.Class == ClassSignInRequired
}

// HintText returns the hint for the command line's "hint:" line.
func (e *Error) HintText() string { return e.Hint }

// ClassOf returns the class of err (ClassUnknown for nil or unclassified).
func ClassOf(err error) Class {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	if errors.Is(err, ErrSignInRequired) {
		return ClassSignInRequired
	}
	return ClassUnknown
}
