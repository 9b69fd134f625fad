package storetest_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kubelab/kubelab/server/store"
	"github.com/kubelab/kubelab/server/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

func TestNewDB(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, b := storetest.NewDB(t), storetest.NewDB(t)
	for _, st := range []*store.Store{a, b} {
		if err := st.CheckSchema(ctx); err != nil {
			t.Errorf("CheckSchema of a fresh database: %v", err)
		}
	}
	if _, err := a.CreateUser(ctx, store.NewUser{Email: "only-in-a@example.org", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.UserByEmail(ctx, "only-in-a@example.org"); err == nil {
		t.Error("two NewDB databases share rows")
	}
}

func TestURLTimeZone(t *testing.T) {
	t.Parallel()
	conn, err := pgx.Connect(t.Context(), storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var tz, db string
	if err := conn.QueryRow(t.Context(), `SELECT current_setting('TimeZone'), current_database()`).Scan(&tz, &db); err != nil {
		t.Fatal(err)
	}
	if tz != storetest.TimeZone {
		t.Errorf("TimeZone = %q, want %q", tz, storetest.TimeZone)
	}
	if db == "postgres" {
		t.Errorf("URL points at the maintenance database")
	}
}
