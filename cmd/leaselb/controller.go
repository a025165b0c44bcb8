package main

import (
	"context"
	"errors"
)

func runController(_ context.Context, _ []string) error {
	return errors.New("not built yet")
}
