package export

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Artifact is the set of exported files and their SHA256SUMS.
type Artifact struct {
	dir   string
	files []string
}

func (*Artifact) BuilderId() string { return BuilderID }

func (a *Artifact) Files() []string { return a.files }

func (a *Artifact) Id() string { return a.dir }

func (a *Artifact) String() string {
	names := make([]string, len(a.files))
	for i, f := range a.files {
		names[i] = filepath.Base(f)
	}
	return fmt.Sprintf("Appliance images in %s: %s", a.dir, strings.Join(names, ", "))
}

func (a *Artifact) State(string) interface{} { return nil }

func (a *Artifact) Destroy() error {
	for _, f := range a.files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
