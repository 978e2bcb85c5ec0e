package config

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// configurationDoc is the operator's reference: every variable once in a
// table, with its default and production rule.
const configurationDoc = "../../docs/configuration.md"

// loaders are every reader of this package; a new Load* belongs here.
func loaders() map[string]func(Lookup) error {
	return map[string]func(Lookup) error{
		"LoadAuth":       func(l Lookup) error { _, err := LoadAuth(l); return err },
		"LoadNotify":     func(l Lookup) error { _, err := LoadNotify(l); return err },
		"LoadServe":      func(l Lookup) error { _, err := LoadServe(l); return err },
		"LoadCommand":    func(l Lookup) error { _, err := LoadCommand(l); return err },
		"ProbePort":      func(l Lookup) error { _, err := ProbePort(l); return err },
		"MemoryLimitSet": func(l Lookup) error { MemoryLimitSet(l); return nil },
	}
}

// readNames runs every loader under environments that reach every branch
// (REDIS_PORT and REDIS_PASSWORD are only asked once REDIS_HOST is set) and
// returns each name asked, NAME_FILE variants included.
func readNames(t *testing.T) map[string]bool {
	t.Helper()
	asked := map[string]bool{}
	for _, kv := range [][]string{
		nil,
		{"NODE_ENV", "production"},
		{"MANA_ENV", "production", "REDIS_HOST", "cache"},
	} {
		inner := env(kv...)
		look := func(name string) (string, bool) {
			asked[name] = true
			return inner(name)
		}
		for _, load := range loaders() {
			_ = load(look) // errors are expected (production without secrets); only the names matter
		}
	}
	return asked
}

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	varName    = regexp.MustCompile(`^[A-Z][A-Z0-9_]{2,}$`)
	suffix     = regexp.MustCompile(`^_[A-Z0-9_]+$`)
)

// documentedNames are the variables named in the first cell of a table row
// of the configuration document; a `_FILE` after `NAME` in that cell
// documents NAME_FILE.
func documentedNames(t *testing.T) map[string]bool {
	t.Helper()
	doc, err := os.ReadFile(configurationDoc)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(strings.TrimSpace(line), "|") || len(cells) < 3 {
			continue
		}
		last := ""
		for _, m := range backticked.FindAllStringSubmatch(cells[1], -1) {
			switch tok := m[1]; {
			case varName.MatchString(tok):
				names[tok], last = true, tok
			case suffix.MatchString(tok) && last != "":
				names[last+tok] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatalf("no variable found in the tables of %s", configurationDoc)
	}
	return names
}

// Every variable this package reads has a row in docs/configuration.md.
// Negative control (tried): remove the `NOTIFY_JWKS_REFETCH_INTERVAL` row
// from docs/configuration.md and this test fails naming it.
func TestEveryVariableReadIsDocumented(t *testing.T) {
	documented := documentedNames(t)
	for _, name := range sorted(readNames(t)) {
		if !documented[name] {
			t.Errorf("%s is read but has no row in %s (first column, as `%s`)", name, configurationDoc, name)
		}
	}
}

// Every variable documented in a table is read by some loader (or listed,
// with a reason, in notReadButDocumented).
// Negative control (tried): add a row "| `MANA_NOT_READ` | | | |" to
// docs/configuration.md and this test fails naming it.
func TestEveryDocumentedVariableIsRead(t *testing.T) {
	// Names documented in a table row that no loader reads, each with its
	// reason. Empty today: MANA_NOTIFY_URL, documented as unused by `mana
	// serve`, is still read by LoadAuth (for `mana serve auth`).
	notReadButDocumented := map[string]string{}
	read := readNames(t)
	for _, name := range sorted(documentedNames(t)) {
		if !read[name] && notReadButDocumented[name] == "" {
			t.Errorf("%s is documented in %s but no Load* reads it", name, configurationDoc)
		}
	}
	for name := range notReadButDocumented {
		if read[name] {
			t.Errorf("%s is listed in notReadButDocumented but is read: remove it from the list", name)
		}
	}
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
