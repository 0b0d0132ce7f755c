package image

import "errors"

// ErrOutsideClosure is returned for an etc whose files (or links) lie
// outside the package's closure.
var ErrOutsideClosure = errors.New("outside the package's closure")
