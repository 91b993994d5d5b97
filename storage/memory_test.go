package storage

import (
	"testing"
)

// Options.CacheSize sizes Badger: a quarter in one memtable (8 to 64 MiB),
// an eighth in the block cache; 0 is DefaultCacheSize and less than
// MinCacheSize counts as MinCacheSize.
func TestCacheSizeSizesBadger(t *testing.T) {
	for _, tc := range []struct {
		size, memTable, blockCache int64
	}{
		{0, 8 << 20, 4 << 20},
		{1 << 20, 8 << 20, 1 << 20},
		{64 << 20, 16 << 20, 8 << 20},
		{1 << 30, 64 << 20, 128 << 20},
	} {
		st, err := Open(t.TempDir(), Options{CacheSize: tc.size, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		o := st.db.Opts()
		st.Close()
		if o.MemTableSize != tc.memTable || o.BlockCacheSize != tc.blockCache || o.NumMemtables != 2 || o.IndexCacheSize != 0 {
			t.Errorf("CacheSize %d: memtable %d ×%d, block cache %d, index cache %d; want memtable %d ×2, block cache %d, index cache 0",
				tc.size, o.MemTableSize, o.NumMemtables, o.BlockCacheSize, o.IndexCacheSize, tc.memTable, tc.blockCache)
		}
	}
}
