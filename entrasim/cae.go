package entrasim

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Conditional Access and Continuous Access Evaluation as an API sees them.
//
// RequireAuthContext makes the MCP endpoint answer a valid token that lacks
// an authentication context with 401 and
//
//	WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64 JSON>"
//
// whose claims ask for {"access_token":{"acrs":{"essential":true,"value":ID}}}.
// Entra then issues a token with that acrs only through an interactive
// sign-in (the context stands for a step-up, MFA say): a silent request
// with those claims fails with AADSTS50076 (interaction_required).
//
// RevokeSessions is a CAE critical event (a password reset, a location
// change): tokens issued before it are refused with a challenge asking for
// {"access_token":{"nbf":{"essential":true,"value":"<time>"}}} when the
// client declared the cp1 capability (their tokens carry xms_cc), and with
// a plain invalid_token 401 otherwise; a silent request with those claims
// gets a new token, since the refresh token stays valid.

// RequireAuthContext makes the MCP endpoint demand the authentication
// context id (a Conditional Access acrs value such as "c1"); "" stops it.
func (s *Server) RequireAuthContext(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authContext = id
}

// RevokeSessions makes the MCP endpoint refuse every token issued until
// now, CAE-style.
func (s *Server) RevokeSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokedAt = time.Now()
	if s.revoked == nil {
		s.revoked = map[string]bool{}
	}
	for uti := range s.issued {
		s.revoked[uti] = true
	}
	s.issued = nil
}

// issuedToken records an access token's uti, for RevokeSessions.
func (s *Server) issuedToken(uti string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.issued == nil {
		s.issued = map[string]bool{}
	}
	s.issued[uti] = true
}

// claimsRequest is what a request's claims parameter asks of the access
// token (the members that the simulator understands).
type claimsRequest struct {
	acrs         []string // authentication contexts asked for
	capabilities []string // xms_cc: the client's capabilities (cp1)
}

type claimValue struct {
	Essential bool     `json:"essential"`
	Value     string   `json:"value"`
	Values    []string `json:"values,omitempty"`
}

// parseClaimsRequest reads the claims parameter (JSON, already checked).
func parseClaimsRequest(raw string) claimsRequest {
	var doc struct {
		AccessToken map[string]claimValue `json:"access_token"`
	}
	var cr claimsRequest
	if raw == "" || json.Unmarshal([]byte(raw), &doc) != nil {
		return cr
	}
	if v, ok := doc.AccessToken["acrs"]; ok {
		cr.acrs = append(cr.acrs, v.Values...)
		if v.Value != "" {
			cr.acrs = append(cr.acrs, v.Value)
		}
	}
	if v, ok := doc.AccessToken["xms_cc"]; ok {
		cr.capabilities = append(cr.capabilities, v.Values...)
	}
	return cr
}

// claimsChallenge is the base64 claims of an insufficient_claims
// challenge.
func claimsChallenge(member string, v claimValue) string {
	b, _ := json.Marshal(map[string]map[string]claimValue{"access_token": {member: v}})
	return base64.StdEncoding.EncodeToString(b)
}

// caeCheck applies Conditional Access and CAE to a token the endpoint
// otherwise accepts: it returns the WWW-Authenticate challenge to answer
// with ("" when the token passes) and why.
func (s *Server) caeCheck(claims map[string]any) (challenge, reason string) {
	uti, _ := claims["uti"].(string)
	s.mu.Lock()
	ctxID, revokedAt, revoked := s.authContext, s.revokedAt, s.revoked[uti]
	s.mu.Unlock()
	if revoked {
		if !hasString(claims["xms_cc"], "cp1") {
			return `Bearer error="invalid_token", error_description="the session was revoked"`, "session revoked"
		}
		return fmt.Sprintf(`Bearer realm="", error="insufficient_claims", error_description="the session was revoked", claims=%q`,
			claimsChallenge("nbf", claimValue{Essential: true, Value: strconv.FormatInt(revokedAt.Unix(), 10)})), "session revoked"
	}
	if ctxID != "" && !hasString(claims["acrs"], ctxID) {
		return fmt.Sprintf(`Bearer realm="", error="insufficient_claims", error_description="authentication context %s required", claims=%q`,
			ctxID, claimsChallenge("acrs", claimValue{Essential: true, Value: ctxID})), "authentication context " + ctxID + " required"
	}
	return "", ""
}

// hasString reports whether a claim (a string or an array) holds want.
func hasString(claim any, want string) bool {
	switch v := claim.(type) {
	case string:
		return v == want
	case []any:
		return slices.ContainsFunc(v, func(x any) bool { return x == want })
	case []string:
		return slices.Contains(v, want)
	}
	return false
}

// unverifiedClaims decodes a token's claims without checking it (the
// caller has).
func unverifiedClaims(raw string) map[string]any {
	t, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return nil
	}
	return t.Claims.(jwt.MapClaims)
}
