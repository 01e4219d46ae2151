package jsonedit

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkEdit is the editor alone (no file I/O) on a 50 MB document
// shaped like ~/.claude.json: one scan that validates everything, and the
// splice.
func BenchmarkEdit(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{\n  \"mcpServers\": {\n    \"api\": {\"type\": \"http\", \"url\": \"u\", \"headersHelper\": \"x\"}\n  },\n  \"projects\": {\n")
	for i := 0; sb.Len() < 50<<20; i++ {
		fmt.Fprintf(&sb, "    \"/home/u/p%d\": {\"history\": [{\"display\": \"fix bug %d \\\"now\\\" ✓\", \"pastedContents\": {}}], \"lastCost\": 0.5, \"ok\": true},\n", i, i)
	}
	sb.WriteString("    \"end\": null\n  }\n}\n")
	doc := []byte(sb.String())
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, err := Edit(doc, Set([]string{"mcpServers", "api", "headersHelper"}, String(fmt.Sprint(i)))); err != nil {
			b.Fatal(err)
		}
	}
}
