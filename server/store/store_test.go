package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kubelab/kubelab/migrations"
	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestMigrationFilesPaired(t *testing.T) {
	t.Parallel()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("migrations start at %v, want 000001", ms)
	}
	entries, err := migrations.FS.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 2*len(ms); got != want {
		t.Errorf("%d .sql files for %d versions, want %d", got, len(ms), want)
	}
}

func TestMigrateDownUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	latest, err := store.LatestVersion()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CheckSchema(ctx); err != nil {
		t.Fatalf("fresh db: CheckSchema: %v", err)
	}
	if err := st.MigrateDown(ctx, 0); err != nil {
		t.Fatalf("MigrateDown(0): %v", err)
	}
	if v, dirty, err := st.SchemaVersion(ctx); err != nil || v != 0 || dirty {
		t.Fatalf("after down: version %d dirty %v err %v, want 0 false nil", v, dirty, err)
	}
	if err := st.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema at version 0: nil error, want one")
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if v, _, _ := st.SchemaVersion(ctx); v != latest {
		t.Fatalf("after up: version %d, want %d", v, latest)
	}
	if err := st.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema after up: %v", err)
	}
	// Migrate is idempotent.
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate twice: %v", err)
	}
	// A usable schema after the round trip.
	if _, err := st.CreateGuest(ctx, "g"); err != nil {
		t.Fatalf("CreateGuest after down/up: %v", err)
	}
}

func TestMigrateStepwise(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// Down one version at a time, then all the way up.
	for i := len(ms) - 1; i >= 0; i-- {
		to := 0
		if i > 0 {
			to = ms[i-1].Version
		}
		if err := st.MigrateDown(ctx, to); err != nil {
			t.Fatalf("MigrateDown(%d): %v", to, err)
		}
		if v, _, _ := st.SchemaVersion(ctx); v != to {
			t.Fatalf("after MigrateDown(%d): version %d", to, v)
		}
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.URL(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.MigrateDown(ctx, 0); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := store.Open(ctx, url)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(ctx)
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if err := st.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema: %v", err)
	}
}

var userOpts = cmpopts.IgnoreFields(store.User{}, "ID", "CreatedAt")

func TestUsers(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)

	u, err := st.CreateUser(ctx, store.NewUser{Email: "Ada@Example.org", Name: "Ada", PasswordHash: "h1", Admin: true})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	want := store.User{Email: "ada@example.org", Name: "Ada", Admin: true}
	if diff := cmp.Diff(want, u, userOpts); diff != "" {
		t.Errorf("CreateUser (-want +got):\n%s", diff)
	}
	if u.ID == "" || time.Since(u.CreatedAt) > time.Hour || time.Until(u.CreatedAt) > time.Hour {
		t.Errorf("CreateUser: id %q created %v", u.ID, u.CreatedAt)
	}

	got, hash, err := st.UserByEmail(ctx, "ADA@example.org")
	if err != nil || hash != "h1" {
		t.Fatalf("UserByEmail: %v, hash %q", err, hash)
	}
	if diff := cmp.Diff(u, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("UserByEmail (-want +got):\n%s", diff)
	}
	byID, err := st.UserByID(ctx, u.ID)
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	if diff := cmp.Diff(u, byID, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
		t.Errorf("UserByID (-want +got):\n%s", diff)
	}
	if err := st.UpdateUserName(ctx, u.ID, "Ada L."); err != nil {
		t.Fatalf("UpdateUserName: %v", err)
	}
	if got, _ := st.UserByID(ctx, u.ID); got.Name != "Ada L." {
		t.Errorf("after UpdateUserName: name %q", got.Name)
	}
	has, err := st.HasAdmin(ctx)
	if err != nil || !has {
		t.Errorf("HasAdmin = %v, %v; want true", has, err)
	}

	errCases := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate email", func() error {
			_, err := st.CreateUser(ctx, store.NewUser{Email: "ada@EXAMPLE.org", Name: "Other", PasswordHash: "h"})
			return err
		}(), store.ErrConflict},
		{"unknown email", func() error { _, _, err := st.UserByEmail(ctx, "nobody@example.org"); return err }(), store.ErrNotFound},
		{"unknown id", func() error {
			_, err := st.UserByID(ctx, "00000000-0000-0000-0000-000000000000")
			return err
		}(), store.ErrNotFound},
		{"malformed id", func() error { _, err := st.UserByID(ctx, "not-a-uuid"); return err }(), store.ErrNotFound},
		{"rename unknown", st.UpdateUserName(ctx, "00000000-0000-0000-0000-000000000000", "x"), store.ErrNotFound},
	}
	for _, tc := range errCases {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestHasAdminEmpty(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	if _, err := st.CreateUser(ctx, store.NewUser{Email: "l@example.org", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if has, err := st.HasAdmin(ctx); err != nil || has {
		t.Errorf("HasAdmin = %v, %v; want false", has, err)
	}
}

func TestGuests(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	g, err := st.CreateGuest(ctx, "Curious Otter")
	if err != nil {
		t.Fatalf("CreateGuest: %v", err)
	}
	if diff := cmp.Diff(store.User{Name: "Curious Otter", Guest: true}, g, userOpts); diff != "" {
		t.Errorf("CreateGuest (-want +got):\n%s", diff)
	}
	g2, err := st.CreateGuest(ctx, "Curious Otter")
	if err != nil {
		t.Fatalf("second guest (guests share no email): %v", err)
	}
	taken, err := st.CreateUser(ctx, store.NewUser{Email: "taken@example.org", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := st.ClaimGuest(ctx, g2.ID, "Taken@example.org", "x", "h", []byte("unused-"+t.Name()), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("ClaimGuest with a taken email: %v, want ErrConflict", err)
	}
	if _, err := st.ClaimGuest(ctx, taken.ID, "new@example.org", "x", "h", []byte("unused-"+t.Name()), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimGuest of a non-guest: %v, want ErrNotFound", err)
	}
	if _, err := st.ClaimGuest(ctx, "00000000-0000-0000-0000-000000000000", "new@example.org", "x", "h", []byte("unused-"+t.Name()), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimGuest of an unknown user: %v, want ErrNotFound", err)
	}

	// The guest's cookie (a shared PC, a planted cookie) must not become the account.
	if err := st.CreateLoginSession(ctx, g.ID, []byte("guest-cookie"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c, err := st.ClaimGuest(ctx, g.ID, "Otter@Example.org", "Otter", "pw", []byte("fresh-cookie"), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatalf("ClaimGuest: %v", err)
	}
	if _, err := st.LoginSession(ctx, []byte("guest-cookie"), 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the guest's login session after the claim: %v, want ErrNotFound", err)
	}
	if u, err := st.LoginSession(ctx, []byte("fresh-cookie"), 0); err != nil || u.ID != g.ID {
		t.Errorf("the claim's new login session: %v, %v", u, err)
	}
	if diff := cmp.Diff(store.User{ID: g.ID, Email: "otter@example.org", Name: "Otter"}, c, cmpopts.IgnoreFields(store.User{}, "CreatedAt")); diff != "" {
		t.Errorf("ClaimGuest (-want +got):\n%s", diff)
	}
	if _, hash, err := st.UserByEmail(ctx, "otter@example.org"); err != nil || hash != "pw" {
		t.Errorf("claimed guest: UserByEmail %v, hash %q", err, hash)
	}
	if _, err := st.ClaimGuest(ctx, g.ID, "again@example.org", "x", "h", []byte("unused-"+t.Name()), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ClaimGuest twice: %v, want ErrNotFound", err)
	}
}

func TestLoginSessions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, store.NewUser{Email: "s@example.org", PasswordHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	tok := bytes.Repeat([]byte{1}, 32)
	if err := st.CreateLoginSession(ctx, u.ID, tok, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("CreateLoginSession: %v", err)
	}
	if err := st.CreateLoginSession(ctx, u.ID, tok, time.Now().Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateLoginSession with a used token: %v, want ErrConflict", err)
	}
	got, err := st.LoginSession(ctx, tok, time.Hour)
	if err != nil {
		t.Fatalf("LoginSession: %v", err)
	}
	if got.ID != u.ID {
		t.Errorf("LoginSession: user %s, want %s", got.ID, u.ID)
	}
	if _, err := st.LoginSession(ctx, tok, 0); err != nil {
		t.Errorf("LoginSession without idle limit: %v", err)
	}
	if _, err := st.LoginSession(ctx, []byte("unknown"), time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown session: %v, want ErrNotFound", err)
	}

	// Absolute expiry in the past.
	old := bytes.Repeat([]byte{2}, 32)
	if err := st.CreateLoginSession(ctx, u.ID, old, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LoginSession(ctx, old, time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session: %v, want ErrNotFound", err)
	}
	n, err := st.DeleteExpiredLoginSessions(ctx)
	if err != nil || n != 1 {
		t.Errorf("DeleteExpiredLoginSessions = %d, %v; want 1", n, err)
	}

	// Idle: a session seen a moment ago is idle for a limit shorter than that.
	idle := bytes.Repeat([]byte{3}, 32)
	if err := st.CreateLoginSession(ctx, u.ID, idle, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := st.LoginSession(ctx, idle, time.Millisecond); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("idle session: %v, want ErrNotFound", err)
	}
	if _, err := st.LoginSession(ctx, idle, time.Hour); err != nil {
		t.Errorf("same session with a long idle limit: %v", err)
	}

	if err := st.DeleteLoginSession(ctx, tok); err != nil {
		t.Fatalf("DeleteLoginSession: %v", err)
	}
	if _, err := st.LoginSession(ctx, tok, time.Hour); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session: %v, want ErrNotFound", err)
	}
	if err := st.DeleteLoginSession(ctx, tok); err != nil {
		t.Errorf("DeleteLoginSession twice: %v", err)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	u, err := st.CreateUser(ctx, store.NewUser{Email: "t@example.org", PasswordHash: "h", Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	h := bytes.Repeat([]byte{9}, 32)
	if err := st.CreateAPIToken(ctx, u.ID, "ci", h); err != nil {
		t.Fatalf("CreateAPIToken: %v", err)
	}
	if err := st.CreateAPIToken(ctx, u.ID, "ci2", h); !errors.Is(err, store.ErrConflict) {
		t.Errorf("CreateAPIToken with a used hash: %v, want ErrConflict", err)
	}
	for range 2 { // the second call takes the no-bump path
		got, err := st.UserByAPIToken(ctx, h)
		if err != nil {
			t.Fatalf("UserByAPIToken: %v", err)
		}
		if diff := cmp.Diff(u, got, cmpopts.EquateApproxTime(time.Microsecond)); diff != "" {
			t.Errorf("UserByAPIToken (-want +got):\n%s", diff)
		}
	}
	if _, err := st.UserByAPIToken(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown token: %v, want ErrNotFound", err)
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := storetest.NewDB(t)
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *store.Store) error {
		if _, err := tx.CreateUser(ctx, store.NewUser{Email: "rolled@example.org", PasswordHash: "h"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v, want boom", err)
	}
	if _, _, err := st.UserByEmail(ctx, "rolled@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after rollback: %v, want ErrNotFound", err)
	}
	err = st.InTx(ctx, func(tx *store.Store) error {
		_, err := tx.CreateUser(ctx, store.NewUser{Email: "kept@example.org", PasswordHash: "h"})
		return err
	})
	if err != nil {
		t.Fatalf("InTx: %v", err)
	}
	if _, _, err := st.UserByEmail(ctx, "kept@example.org"); err != nil {
		t.Errorf("after commit: %v", err)
	}
}
