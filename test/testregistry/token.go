package testregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TokenServer is a Docker registry token service (the "Bearer" realm a
// registry sends clients to) on 127.0.0.1. It signs ES256 JWTs the
// registry trusts and grants access to users (basic auth / password
// grant) and to holders of refresh ("identity") tokens. Anonymous
// requests get a token with no access.
type TokenServer struct {
	URL     string // realm, http://127.0.0.1:PORT/token
	Service string
	Issuer  string

	certFile string
	certDER  []byte
	key      *ecdsa.PrivateKey

	mu       sync.Mutex
	users    map[string]string
	refresh  map[string]string // refresh token -> subject
	Requests int               // token requests served
}

// StartTokenServer serves tokens until the test ends.
func StartTokenServer(t testing.TB, users map[string]string) *TokenServer {
	t.Helper()
	ts := &TokenServer{Service: "krill-test-registry", Issuer: "krill-test-issuer", users: users, refresh: map[string]string{}}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "krill token signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts.key, ts.certDER = key, der
	ts.certFile = filepath.Join(t.TempDir(), "token-signer.crt")
	if err := os.WriteFile(ts.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.URL = "http://" + l.Addr().String() + "/token"
	srv := &http.Server{Handler: http.HandlerFunc(ts.serve)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return ts
}

// AddRefreshToken makes tok an identity token for subject.
func (ts *TokenServer) AddRefreshToken(tok, subject string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.refresh[tok] = subject
}

// Issue returns an access token for repo with the given actions, as a
// client would hold it already (CRI's RegistryToken).
func (ts *TokenServer) Issue(repo string, actions ...string) string {
	return ts.sign("issued", []string{"repository:" + repo + ":" + strings.Join(actions, ",")})
}

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.mu.Lock()
	ts.Requests++
	ts.mu.Unlock()
	r.ParseForm()
	scopes := r.Form["scope"]
	var subject string
	switch {
	case r.Method == http.MethodPost && r.Form.Get("grant_type") == "refresh_token":
		ts.mu.Lock()
		subject = ts.refresh[r.Form.Get("refresh_token")]
		ts.mu.Unlock()
		if subject == "" {
			http.Error(w, `{"error":"invalid refresh token"}`, http.StatusUnauthorized)
			return
		}
	case r.Method == http.MethodPost && r.Form.Get("grant_type") == "password":
		if !ts.validUser(r.Form.Get("username"), r.Form.Get("password")) {
			http.Error(w, `{"error":"invalid credentials"}`, http.StatusUnauthorized)
			return
		}
		subject = r.Form.Get("username")
	default:
		if u, p, ok := r.BasicAuth(); ok {
			if !ts.validUser(u, p) {
				http.Error(w, `{"error":"invalid credentials"}`, http.StatusUnauthorized)
				return
			}
			subject = u
		}
	}
	if subject == "" {
		scopes = nil // anonymous: a token that grants nothing
	}
	tok := ts.sign(subject, scopes)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"token": tok, "access_token": tok, "expires_in": 300,
		"issued_at": time.Now().UTC().Format(time.RFC3339), "refresh_token": r.Form.Get("refresh_token"),
	})
}

func (ts *TokenServer) validUser(u, p string) bool {
	want, ok := ts.users[u]
	return ok && u != "" && want == p
}

// sign makes the JWT distribution 2.8 verifies: ES256, the signing
// certificate in x5c, issuer/audience/expiry and the granted access.
func (ts *TokenServer) sign(subject string, scopes []string) string {
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	grants := []access{}
	for _, sc := range scopes {
		parts := strings.Split(sc, ":")
		if len(parts) < 3 {
			continue
		}
		grants = append(grants, access{Type: parts[0], Name: strings.Join(parts[1:len(parts)-1], ":"), Actions: strings.Split(parts[len(parts)-1], ",")})
	}
	now := time.Now()
	header, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	claims, _ := json.Marshal(map[string]any{
		"iss": ts.Issuer, "sub": subject, "aud": ts.Service,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": fmt.Sprint(now.UnixNano()), "access": grants,
	})
	enc := base64.RawURLEncoding
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig)
}
