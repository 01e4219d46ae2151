package entrasim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// aadError is an error as Entra's token and device-code endpoints send it:
// the JSON body and the HTTP status that carries it.
type aadError struct {
	Status     int
	Error      string
	Code       int
	Suberror   string
	Message    string // the text after "AADSTS<code>: "
	Claims     string
	RetryAfter time.Duration
}

// aadBody is the JSON shape of an Entra error, fields in Entra's order.
type aadBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes,omitempty"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri,omitempty"`
	Suberror         string `json:"suberror,omitempty"`
	Claims           string `json:"claims,omitempty"`
}

// aadMessages holds Entra's wording for the codes the simulator sends or
// that tests commonly queue. Placeholders are filled by the caller.
var aadMessages = map[int]string{
	1002012: "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).",
	50027:   "JWT token is invalid or malformed.",
	700021:  "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
	700023:  "Client assertion audience claim does not match Realm issuer. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
	700024:  "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .",
	700027:  "Client assertion failed signature validation.",
	700211:  "No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
	700212:  "No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
	700213:  "No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation",
	7000215: "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
	28000:   "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.",
	50000:   "There was an error issuing a token or an issue with our sign-in service.",
	50011:   "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal. Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
	50076:   "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
	50079:   "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
	50020:   "User account '%s' from identity provider 'live.com' does not exist in tenant '%s' and cannot access the application '%s' in that tenant. The account needs to be added as an external user in the tenant first.",
	50097:   "Device authentication is required.",
	50105:   "Your administrator has configured the application '%s' to block users unless they are specifically granted ('assigned') access to the application.",
	53000:   "Device is not in required device state: compliant. Conditional Access policy requires a compliant device, and the device is not compliant.",
	65002:   "Consent between first party application '%s' and first party resource '%s' must be configured via preauthorization - applications owned and operated by Microsoft must get approval from the API owner before requesting tokens for that API.",
	530084:  "Access has been blocked by conditional access token protection policy.",
	28003:   "Provided value for the input parameter scope cannot be empty when requesting an access token using the provided authorization code. Please specify a valid scope.",
	50133:   "Session is invalid due to expiration or recent password change.",
	50148:   "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.",
	50173:   "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.",
	53003:   "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.",
	54005:   "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
	65001:   "The user or administrator has not consented to use the application. Send an interactive authorization request for this user and resource.",
	70000:   "Provided grant is invalid or malformed.",
	70008:   "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
	70011:   "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid.",
	70016:   "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
	70020:   "The provided value for the input parameter 'device_code' is not valid. This device code has expired.",
	90002:   "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.",
	90033:   "A transient error has occurred. Please try again.",
	90055:   "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.",
	500011:  "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
	650053:  "The application asked for scope '%s' that doesn't exist on the resource '%s'. Contact the app vendor.",
	700016:  "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
	700082:  "The refresh token has expired due to inactivity. The token was issued on a date more than 90 days ago and was inactive for 90.00:00:00.",
	900144:  "The request body must contain the following parameter: '%s'.",
	901002:  "The 'resource' request parameter is not supported.",
	7000218: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
	9002313: "Invalid request. Request is malformed or invalid.",
	9002327: "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
	9010010: "The resource parameter provided in the request doesn't match with the requested scopes.",
}

// newAADError builds an error with Entra's wording for code, formatting
// args into its placeholders.
func newAADError(code int, oauthError string, args ...any) *aadError {
	msg, ok := aadMessages[code]
	if !ok {
		msg = "entrasim injected error."
	}
	if ok && len(args) > 0 {
		msg = fmt.Sprintf(msg, args...)
	}
	return &aadError{Status: statusFor(oauthError), Error: oauthError, Code: code, Message: msg}
}

// statusFor is the HTTP status Entra uses for an OAuth error.
func statusFor(oauthError string) int {
	switch oauthError {
	case "invalid_client":
		return http.StatusUnauthorized
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	case "server_error":
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// interactionClaims is the claims challenge Entra attaches to errors that
// need the user (MFA, Conditional Access).
const interactionClaims = `{"access_token":{"capolids":{"essential":true,"values":["6b8fdb43-3a4c-4b32-9d7e-5e2c1a7f0c11"]}}}`

// needsClaims reports whether Entra sends a claims challenge with code.
func needsClaims(code int, oauthError string) bool {
	switch code {
	case 50076, 50079, 53003, 50158:
		return true
	}
	return oauthError == "interaction_required"
}

// write sends e as Entra does. correlationID echoes the client's
// client-request-id header when it sent one.
func (e *aadError) write(w http.ResponseWriter, correlationID string) {
	now := time.Now().UTC()
	ts := now.Format("2006-01-02 15:04:05Z")
	trace := newUUID()
	if correlationID == "" {
		correlationID = newUUID()
	}
	desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.Code, e.Message, trace, correlationID, ts)
	body := aadBody{
		Error:            e.Error,
		ErrorDescription: desc,
		Timestamp:        ts,
		TraceID:          trace,
		CorrelationID:    correlationID,
		Suberror:         e.Suberror,
		Claims:           e.Claims,
	}
	if e.Code != 0 {
		body.ErrorCodes = []int{e.Code}
		body.ErrorURI = "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.Code)
	} else {
		body.ErrorDescription = fmt.Sprintf("%s Trace ID: %s Correlation ID: %s Timestamp: %s", e.Message, trace, correlationID, ts)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("x-ms-request-id", trace)
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// faultError is the body sent for an injected HTTP status.
func faultError(status int) *aadError {
	var e *aadError
	switch {
	case status == http.StatusTooManyRequests:
		e = newAADError(90055, "temporarily_unavailable")
	case status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout || status == http.StatusBadGateway:
		e = newAADError(90033, "temporarily_unavailable")
	case status >= 500:
		e = newAADError(50000, "server_error")
	default:
		e = newAADError(9002313, "invalid_request")
	}
	e.Status = status
	return e
}
