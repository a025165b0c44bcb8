package main

import (
	"context"
	"errors"
)

func runSpeaker(_ context.Context, _ []string) error {
	return errors.New("not built yet")
}
