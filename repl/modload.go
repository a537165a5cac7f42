package repl

import (
	"fmt"
	"os"
)

// Loading module debuginfo during a session, as crash's `mod -s` and
// `mod -S` do. Both change the session's module set in place (mod -s) or
// replace it (mod -S); what was derived from the old one — the ftrace
// state, the line tables — is dropped so that the next `stubs`, `dis`,
// `ftrace` or `audit` sees the new debuginfo.

// LoadModuleDebuginfo loads the named module's .ko from path (crash's
// `mod -s NAME FILE`; path "" searches the module directories again). The
// .ko must carry the loaded module's build-id.
func (s *Session) LoadModuleDebuginfo(name, path string) error {
	if path != "" {
		if st, err := os.Stat(path); err != nil {
			return err
		} else if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
	}
	if err := s.A.ReloadModule(name, path); err != nil {
		return err
	}
	if s.koOverride == nil {
		s.koOverride = map[string]string{}
	}
	if a := s.Modules().Find(name); a != nil && a.Debuginfo != nil {
		s.koOverride[name] = a.Debuginfo.Path
	}
	return nil
}

// LoadAllModuleDebuginfo analyses every module again with dir as the first
// module directory (crash's `mod -S DIR`), or with the directories the
// session was opened with when dir is "". Per-module files named by
// LoadModuleDebuginfo are forgotten: -S loads everything from the tree.
func (s *Session) LoadAllModuleDebuginfo(dir string) error {
	var dirs []string
	if dir != "" {
		st, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		dirs = []string{dir}
	}
	s.A.ReloadAll(dirs)
	s.koOverride = nil
	return nil
}
