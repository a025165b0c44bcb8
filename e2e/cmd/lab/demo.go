package main

import (
	"context"
	"errors"
)

func demo(ctx context.Context, root string) error { return errors.New("demo: not yet") }
