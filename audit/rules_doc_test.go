package audit

import (
	"os"
	"strings"
	"testing"
)

// TestRulesDoc: docs/RULES.md names every rule of the catalogue with its
// severity and statement.
func TestRulesDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range Rules {
		h := "## " + r.ID + " (" + r.Severity.String() + ")"
		if !strings.Contains(doc, h) {
			t.Errorf("docs/RULES.md lacks %q", h)
		}
		if !strings.Contains(doc, r.Statement) {
			t.Errorf("docs/RULES.md: %s statement out of date", r.ID)
		}
	}
}
