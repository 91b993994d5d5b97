//go:build !linux

package testenv

import (
	"errors"
	"os"
)

var errNotLinux = errors.New("small file systems are mounted on Linux only")

func mountSmall(string, int64) error  { return errNotLinux }
func unmount(string) error            { return errNotLinux }
func allocate(*os.File, int64) error  { return errNotLinux }
func freeSpace(string) (int64, error) { return 0, errNotLinux }
