package main

import (
	"context"
	"errors"
)

func bench(ctx context.Context, root string, args []string) error {
	return errors.New("bench: not yet")
}
