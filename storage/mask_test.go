package storage

import "testing"

// MaskDSN hides the password and nothing else: the user, the address and
// the database stay readable, whichever way the DSN or URL is written.
func TestMaskDSN(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"mysql url", "mysql://u:p@tcp(h:3306)/d", "mysql://u:" + Masked + "@tcp(h:3306)/d"},
		{"mysql url, user only", "mysql://root@tcp(db:3306)/switchboard?parseTime=true", "mysql://root@tcp(db:3306)/switchboard?parseTime=true"},
		{"mysql url, user only, loopback", "mysql://root@tcp(127.0.0.1:3306)/sb", "mysql://root@tcp(127.0.0.1:3306)/sb"},
		{"mysql url, password with @ and :", "mysql://u:p@ss:w@tcp(db:3306)/sb?x=1", "mysql://u:" + Masked + "@tcp(db:3306)/sb?x=1"},
		{"mysql url, empty password", "mysql://u:@tcp(db:3306)/sb", "mysql://u:" + Masked + "@tcp(db:3306)/sb"},
		{"driver dsn", "sb:pw@tcp(db:3306)/switchboard", "sb:" + Masked + "@tcp(db:3306)/switchboard"},
		{"driver dsn, secret", "u:secret@tcp(db:3306)/sb", "u:" + Masked + "@tcp(db:3306)/sb"},
		{"driver dsn, user only", "root@tcp(db:3306)/switchboard", "root@tcp(db:3306)/switchboard"},
		{"driver dsn, empty password", "root:@tcp(db:3306)/switchboard", "root:" + Masked + "@tcp(db:3306)/switchboard"},
		{"password with @ : /", "sb:p@s:s/w@tcp(db:3306)/switchboard", "sb:" + Masked + "@tcp(db:3306)/switchboard"},
		{"unix socket", "sb:pw@unix(/run/mysqld/mysqld.sock)/switchboard", "sb:" + Masked + "@unix(/run/mysqld/mysqld.sock)/switchboard"},
		{"sqlite", "sqlite:switchboard.db", "sqlite:switchboard.db"},
		{"sqlite with @ in path", "sqlite:/var/lib/sb@2/x.db", "sqlite:/var/lib/sb@2/x.db"},
		{"sqlite with : and @ in path", "sqlite:/var/lib/sb:x@y.db", "sqlite:/var/lib/sb:x@y.db"},
		{"http url", "http://a:b@host:8088/ari", "http://a:" + Masked + "@host:8088/ari"},
		{"http url, user only", "http://a@host:8088/ari", "http://a@host:8088/ari"},
		{"http url, @ in the path", "http://host:8088/ari/x@y/z", "http://host:8088/ari/x@y/z"},
		{"no user", "tcp(db:3306)/switchboard", "tcp(db:3306)/switchboard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MaskDSN(tc.in); got != tc.want {
				t.Errorf("MaskDSN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
