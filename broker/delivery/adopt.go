package delivery

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Adopt makes the broker the owner of the token the target's file holds
// now where the target keeps or removes one (an Authorization header the
// user pasted, which the ledger would otherwise leave alone): it records
// it in the ledger as if the broker had written it, so that the next
// Apply replaces it (helper mode: removes it) and Remove scrubs it. Undo
// puts the ledger back as it was (for a wiring that failed).
// `broker scan --apply` adopts the pasted tokens it replaces.
func (t *Target) Adopt(ctx context.Context) (undo func(context.Context) error, err error) {
	nothing := func(context.Context) error { return nil }
	held, err := t.held()
	if err != nil || len(held) == 0 {
		return nothing, err
	}
	rec := recordOf(t.cfg, t.it.File())
	known, err := t.d.ledger.record(ctx, rec.key())
	if err != nil {
		return nothing, err
	}
	if err := t.d.ledger.placing(ctx, rec, held); err != nil {
		return nothing, err
	}
	return func(ctx context.Context) error { return t.d.ledger.put(ctx, rec.key(), known) }, nil
}

func (t *Target) held() ([]integrations.Placed, error) {
	data, err := files.ReadRegular(t.it.File(), files.MaxClientFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", t.it.Path(), err)
	}
	return t.it.Held(data)
}

// Preview returns what Apply would make of data, the target's file's
// content now (exists false: there is none), without writing the file
// or the ledger; with adopt, as after Adopt. With remove, what Remove
// would make of it instead.
func (t *Target) Preview(ctx context.Context, data []byte, exists bool, tok token.Token, adopt, remove bool) ([]byte, error) {
	known, err := t.d.ledger.peek(recordOf(t.cfg, t.it.File()).key())
	if err != nil {
		return nil, err
	}
	p := previewOwner{known: known}
	if adopt && exists {
		if p.adopted, err = t.it.Held(data); err != nil {
			return nil, err
		}
	}
	if remove {
		return t.it.PreviewRemove(data, p)
	}
	return t.it.Preview(data, exists, tok, p)
}

// previewOwner owns what the ledger lists and what would be adopted, and
// records nothing.
type previewOwner struct {
	known   *Record
	adopted []integrations.Placed
}

func (o previewOwner) Owns(place, sum string) bool {
	if slices.ContainsFunc(o.adopted, func(p integrations.Placed) bool { return p.Place == place && p.SHA256 == sum }) {
		return true
	}
	return (&owner{known: o.known}).Owns(place, sum)
}

func (previewOwner) Placing(string, []integrations.Placed) error { return nil }

// peek returns a copy of one record (nil when there is none) without
// taking the lock or creating anything: a preview writes nothing, and
// the ledger is replaced atomically, so a read sees a whole one.
func (l *Ledger) peek(k key) (*Record, error) {
	d, err := l.read()
	if err != nil {
		return nil, err
	}
	if r := find(d, k); r != nil {
		c := *r
		c.Values = slices.Clone(r.Values)
		return &c, nil
	}
	return nil, nil
}
