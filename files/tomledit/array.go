package tomledit

import (
	"fmt"
	"reflect"
	"slices"
)

// DeleteArrayTable removes the index-th [[path]] table: its header line
// through its last key-value line and the blank lines after them (a
// comment after it, which may belong to what follows, stays). The result
// is checked: the array has one table less and every other value is as it
// was.
func (d *Doc) DeleteArrayTable(path []string, index int) (*Doc, error) {
	for ti, t := range d.tables {
		if !t.array || !equal(t.path, path) || t.index != index {
			continue
		}
		end := t.line.end
		for _, v := range t.kvs {
			end = max(end, v.line.end)
		}
		// A table under this one ([path.sub]) goes with it.
		for _, u := range d.tables[ti+1:] {
			if u.array && equal(u.path, path) || !hasPrefix(u.path, path) || len(u.path) == len(path) {
				break
			}
			end = max(end, u.line.end)
			for _, v := range u.kvs {
				end = max(end, v.line.end)
			}
		}
		for end < len(d.data) { // the blank lines after it
			j := end
			for j < len(d.data) && isBlank(d.data[j]) {
				j++
			}
			if j < len(d.data) && d.data[j] == '\r' {
				j++
			}
			if j < len(d.data) && d.data[j] == '\n' {
				end = j + 1
				continue
			}
			if j == len(d.data) {
				end = j
			}
			break
		}
		end = min(end, len(d.data))
		start := t.line.start // back to the line's first byte, "[[" included
		for start > 0 && d.data[start-1] != '\n' {
			start--
		}
		out := append(slices.Clone(d.data[:start]), d.data[end:]...)
		nd, err := Parse(out)
		if err != nil {
			return nil, fmt.Errorf("removing the table gave a file that does not parse: %w", err)
		}
		want := cloneWithout(d.values, path, index)
		if !reflect.DeepEqual(nd.values, want) {
			return nil, fmt.Errorf("removing the table did not give the intended file; it is left as it was")
		}
		return nd, nil
	}
	return d, fmt.Errorf("there is no [[%s]] number %d", joinKey(path), index+1)
}

// cloneWithout is m with the index-th element of the array at path gone
// (and the array with it when it was the last).
func cloneWithout(m map[string]any, path []string, index int) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	if len(path) == 1 {
		list, _ := out[path[0]].([]any)
		rest := append(slices.Clone(list[:index]), list[index+1:]...)
		if len(rest) == 0 {
			delete(out, path[0])
		} else {
			out[path[0]] = rest
		}
		return out
	}
	sub, _ := out[path[0]].(map[string]any)
	out[path[0]] = cloneWithout(sub, path[1:], index)
	return out
}

func joinKey(path []string) string {
	s := ""
	for i, p := range path {
		if i > 0 {
			s += "."
		}
		s += Key(p)
	}
	return s
}
