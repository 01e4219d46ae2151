package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

// ProfileTOML renders p as a [profiles.NAME] table. An empty ClientID is
// written as a placeholder comment the user must fill in.
func ProfileTOML(p Profile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[profiles.%s]\n", p.Name)
	kv := func(k string, v any) {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "%s = %s\n", k, tomlString(v))
		case []string:
			q := make([]string, len(v))
			for i, s := range v {
				q[i] = tomlString(s)
			}
			fmt.Fprintf(&b, "%s = [%s]\n", k, strings.Join(q, ", "))
		}
	}
	kv("tenant", p.Tenant)
	switch {
	case p.ClientID != "":
		kv("client_id", p.ClientID)
	case ownClientID(p.Login): // az and azd sign in with their own app
	default:
		b.WriteString("client_id = \"\"  # the Application (client) ID of your public-client app registration\n")
	}
	kv("scopes", p.Scopes)
	if p.Authority != "" {
		kv("authority", p.Authority)
	}
	if p.Login != "" && p.Login != "browser" {
		kv("login", p.Login)
	}
	if p.LoginHint != "" {
		kv("login_hint", p.LoginHint)
	}
	return b.String()
}

// AppendProfile adds p to the config file at path (created 0600 when
// missing), leaving every byte already there as it was. It refuses a
// profile that exists, and a result that would not load.
func AppendProfile(ctx context.Context, path string, p Profile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return &Error{Path: path, Message: fmt.Sprintf("cannot create the config folder: %v", unwrapPathError(err))}
	}
	_, err := atomicfile.Update(ctx, path, func(old []byte, exists bool) ([]byte, error) {
		return AppendedProfile(path, old, p)
	})
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return &Error{Path: path, Message: fmt.Sprintf("cannot write the config file: %v", err), Hint: "check the folder's permissions"}
	}
	return err
}

// AppendedProfile is old (the config file at path) with p appended, as
// AppendProfile writes it; nothing is written. It refuses a profile that
// exists, and a result that would not load.
func AppendedProfile(path string, old []byte, p Profile) ([]byte, error) {
	if len(old) > 0 {
		cur, err := parse(path, []file{{path, old}})
		if err != nil {
			return nil, err
		}
		if _, ok := cur.Profiles[p.Name]; ok {
			return nil, &Error{Path: path, Message: fmt.Sprintf("profile %q already exists", p.Name),
				Hint: "choose another name with --profile, or edit the file"}
		}
	}
	nl := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		nl = "\r\n"
	}
	var buf bytes.Buffer
	buf.Write(old)
	if len(old) > 0 {
		if !bytes.HasSuffix(old, []byte("\n")) {
			buf.WriteString(nl)
		}
		buf.WriteString(nl)
	}
	buf.WriteString(strings.ReplaceAll(ProfileTOML(p), "\n", nl))
	// Check the result before it replaces the file: it loads, and the
	// profile is there with the values written (files/tomledit reads
	// the file as go-toml's parser does).
	if _, err := parse(path, []file{{path, buf.Bytes()}}); err != nil {
		return nil, err
	}
	d, err := tomledit.Parse(buf.Bytes())
	if err != nil {
		return nil, err
	}
	tenant, _ := d.Get("profiles", p.Name, "tenant")
	clientID, ok := d.Get("profiles", p.Name, "client_id")
	if !ok && p.ClientID == "" && ownClientID(p.Login) {
		clientID = ""
	}
	if tenant != p.Tenant || clientID != p.ClientID {
		return nil, &Error{Path: path, Message: fmt.Sprintf("adding profile %q did not give the intended file; it is left as it was", p.Name)}
	}
	return buf.Bytes(), nil
}
