package benchkit

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
)

// Table gathers a run's figures, one row each, and the notes under them.
// Its zero value is ready; it is safe for concurrent use.
type Table struct {
	mu      sync.Mutex
	rows    []row
	notes   []string
	invalid bool
}

// row is one line of the table.
type row struct {
	section, name, value, ratio, target, result string
}

// Add adds a row: the benchmark (section) it belongs to, the figure's
// name and value, its ratio to the baseline, its target and the result
// (PASS/MISS, OK/BROKEN); any of the last three may be empty.
func (t *Table) Add(section, name, value, ratio, target, result string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rows = append(t.rows, row{section, name, value, ratio, target, result})
}

// Note adds a note, written under the table.
func (t *Table) Note(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// Invariant adds a must-be-zero figure; any other value makes the table
// Broken.
func (t *Table) Invariant(section, name string, n int64) {
	res := "OK"
	if n != 0 {
		res = "BROKEN"
		t.mu.Lock()
		t.invalid = true
		t.mu.Unlock()
	}
	t.Add(section, name, fmt.Sprint(n), "", "= 0", res)
}

// Broken says whether an Invariant was not zero.
func (t *Table) Broken() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.invalid
}

// Write writes the rows, grouped by section in the order of the sections'
// names (rows of a section in the order they were added), then the notes.
func (t *Table) Write(w io.Writer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "benchmark\tfigure\tvalue\tx baseline\ttarget\tresult\t")
	fmt.Fprintln(tw, "---------\t------\t-----\t----------\t------\t------\t")
	rows := slices.Clone(t.rows)
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.section, b.section) })
	last := ""
	for _, x := range rows {
		sec := x.section
		if sec == last {
			sec = ""
		} else if last != "" {
			fmt.Fprintln(tw, "\t\t\t\t\t\t")
		}
		last = x.section
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", sec, x.name, x.value, x.ratio, x.target, x.result)
	}
	tw.Flush()
	if len(t.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range t.notes {
			fmt.Fprintln(w, "  * "+strings.ReplaceAll(n, "\n", "\n    "))
		}
	}
}

// PassMiss is the result of a figure against its target.
func PassMiss(ok bool) string {
	if ok {
		return "PASS"
	}
	return "MISS"
}
