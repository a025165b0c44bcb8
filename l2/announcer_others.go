//go:build !linux

package l2

func newSystem() (system, error) { return nil, ErrUnimplemented }
