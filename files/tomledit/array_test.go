package tomledit

import "testing"

func TestDeleteArrayTable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
		index          int
	}{
		{"middle, comment kept", "[p]\na = 1\n\n[[p.t]]\nc = \"v\"\n\n[[p.t]] # go\nc = \"c\"\nd = \"\"\"\n[not a table]\n\"\"\"\n\n# next\n[[p.t]]\nc = \"e\"\n",
			"[p]\na = 1\n\n[[p.t]]\nc = \"v\"\n\n# next\n[[p.t]]\nc = \"e\"\n", 1},
		{"last", "[p]\na = 1\n\n[[p.t]]\nc = \"v\"\n", "[p]\na = 1\n\n", 0},
		{"crlf", "[p]\r\na = 1\r\n\r\n[[p.t]]\r\nc = \"v\"\r\n\r\n[[p.t]]\r\nc = \"w\"\r\n", "[p]\r\na = 1\r\n\r\n[[p.t]]\r\nc = \"w\"\r\n", 0},
	} {
		d, err := Parse([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		nd, err := d.DeleteArrayTable([]string{"p", "t"}, tc.index)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := string(nd.Bytes()); got != tc.want {
			t.Errorf("%s:\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
	d, _ := Parse([]byte("[[p.t]]\nc = 1\n"))
	if _, err := d.DeleteArrayTable([]string{"p", "t"}, 3); err == nil {
		t.Error("no error for a table that is not there")
	}
}
