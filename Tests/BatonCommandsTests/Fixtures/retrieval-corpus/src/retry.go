// Package retry retries operations that fail with temporary errors, waiting longer
// after each attempt (exponential backoff) with random jitter so that many clients do
// not retry in lockstep.
package retry

import (
	"context"
	"errors"
	"math/rand"
	"time"
)

// Policy says how often and how long to wait between attempts.
type Policy struct {
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
}

// ErrPermanent marks an error that must not be retried.
var ErrPermanent = errors.New("permanent error")

// Do calls op until it succeeds, returns a permanent error, or attempts run out.
func Do(ctx context.Context, p Policy, op func() error) error {
	var err error
	for attempt := 0; attempt < p.MaxAttempts; attempt++ {
		if err = op(); err == nil || errors.Is(err, ErrPermanent) {
			return err
		}
		delay := p.BaseDelay << attempt
		if delay > p.MaxDelay {
			delay = p.MaxDelay
		}
		// Full jitter: sleep a random time between zero and the backoff delay.
		sleep := time.Duration(rand.Int63n(int64(delay) + 1))
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
