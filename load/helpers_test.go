package load

import (
	"errors"
	"strings"
)

func errorsIs(err error) bool     { return errors.Is(err, ErrInvalid) }
func contains(s, sub string) bool { return strings.Contains(s, sub) }
