package allocator

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers test with errors.Is. The messages people read
// are longer: they name the Service, the pool and the fix.
var (
	// ErrInvalid means a pool or a request is malformed: an address that does
	// not parse, a reversed range, two requested IPs of one family, an
	// unknown family policy.
	ErrInvalid = errors.New("allocator: invalid")
	// ErrNotInPool means a requested IP lies in no pool, or not in the pool
	// the Service names.
	ErrNotInPool = errors.New("allocator: address in no pool")
	// ErrUnknownPool means the Service names a pool that does not exist.
	ErrUnknownPool = errors.New("allocator: unknown pool")
	// ErrNoPool means no pool may serve the Service: none auto-assigns to
	// it, its serviceAllocation does not select it, or none offers the IP
	// family it needs.
	ErrNoPool = errors.New("allocator: no pool serves the service")
	// ErrNoFreeIP means the pools that may serve the Service are full.
	ErrNoFreeIP = errors.New("allocator: no free address")
	// ErrSharing means the address is used by a Service it may not be
	// shared with.
	ErrSharing = errors.New("allocator: address cannot be shared")
)

// allocError carries a message for people and a sentinel for programs, so
// the message does not have to repeat the sentinel's text.
type allocError struct {
	msg  string
	kind error
}

func (e *allocError) Error() string { return e.msg }
func (e *allocError) Unwrap() error { return e.kind }

func errorf(kind error, format string, args ...any) error {
	return &allocError{msg: fmt.Sprintf(format, args...), kind: kind}
}
