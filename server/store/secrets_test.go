package store_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/kubelab/kubelab/server/store/storetest"
)

// TestSecretIsMadeOnce: callers racing to make a secret all get the one
// value that was stored first, and it stays.
func TestSecretIsMadeOnce(t *testing.T) {
	t.Parallel()
	st := storetest.NewDB(t)
	got := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := st.Secret(t.Context(), "k", []byte(fmt.Sprintf("value-%d", i)))
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) == 0 || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("callers got different secrets: %q", got)
		}
	}
	again, err := st.Secret(t.Context(), "k", []byte("later"))
	if err != nil || !bytes.Equal(again, got[0]) {
		t.Errorf("Secret later = %q, %v; want %q", again, err, got[0])
	}
	other, err := st.Secret(t.Context(), "other", []byte("mine"))
	if err != nil || string(other) != "mine" {
		t.Errorf("another secret = %q, %v", other, err)
	}
}
