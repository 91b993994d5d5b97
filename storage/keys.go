package storage

// Key prefixes, one per kind of record. Everything for one kind sorts
// together, so a prefix scan loads it.
var (
	keySchema     = []byte("meta/schema")
	keyNextID     = []byte("meta/next-principal")
	keyNextGrant  = []byte("meta/next-grant")
	prefTenant    = []byte("tenant/")    // tenant/<domain> → tenantRec
	prefPrincipal = []byte("principal/") // principal/<id> → principalRec
	prefGrant     = []byte("grant/")     // grant/<id> → delegation.Grant
	prefAudit     = []byte("audit/")     // audit/<unix nanos, 16 hex>/<seq> → AuditRecord
)

func key(prefix []byte, parts ...string) []byte {
	k := append([]byte(nil), prefix...)
	for i, p := range parts {
		if i > 0 {
			k = append(k, '/')
		}
		k = append(k, p...)
	}
	return k
}
