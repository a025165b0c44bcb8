package main

import (
	"context"
	"errors"
)

func runDoctor(_ context.Context, _ []string) error {
	return errors.New("not built yet")
}
