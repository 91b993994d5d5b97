package storage

import (
	"fmt"
	"log/slog"
	"strings"
)

// badgerSlog adapts Badger's logger to slog.
type badgerSlog struct{ l *slog.Logger }

func (a badgerSlog) Errorf(f string, v ...any)   { a.l.Error(msg(f, v)) }
func (a badgerSlog) Warningf(f string, v ...any) { a.l.Warn(msg(f, v)) }
func (a badgerSlog) Infof(f string, v ...any)    { a.l.Debug(msg(f, v)) } // Badger is chatty at info
func (a badgerSlog) Debugf(f string, v ...any)   { a.l.Debug(msg(f, v)) }

func msg(f string, v []any) string { return strings.TrimSpace(fmt.Sprintf(f, v...)) }
