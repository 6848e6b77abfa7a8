#!/usr/bin/perl

# scripts/certmate, the command line over the admin API: every command,
# tables and --json, the URL and token from flags and the environment,
# refusals (exit 1, the API's message), usage errors (exit 2), and the
# store's backup and restore.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;
my $dir = $t->dir;
my $cli = "$Certmate::Test::TOP/scripts/certmate";

plan(skip_all => 'mdb_copy is not installed (lmdb-utils)')
    if system('command -v mdb_copy >/dev/null 2>&1');

my $root = $t->ca('root');
my $web = $t->cert('web', names => ['a.example.com', 'www.example.com'],
                   issuer => $root);

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_ca;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
            certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }
}
EOF

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');

my $url = 'http://127.0.0.1:' . $t->port('admin') . '/certmate';

# the CLI with the URL and token in the environment: (exit code, output)

sub cli {
    local $ENV{CERTMATE_URL} = $url;
    local $ENV{CERTMATE_TOKEN} = 'secret';
    my $out = Certmate::Test::run_cmd($cli, @_);
    return ($? >> 8, $out);
}

my ($rc, $out) = cli('import', $t->write_file('chain.pem', $web->{pem}),
                     $web->{key});
is($rc, 0, 'import: 0');
like($out, qr/^ID\s+NAMES\s+SOURCE\s+STATUS\s+NOT_AFTER$/m, 'import: a table');
my ($id) = $out =~ /^([0-9a-f]{32})\s+a\.example\.com,www\.example\.com\s+import\s+active\s/m;
ok($id, 'import: the certificate, its names, source and status');

($rc, $out) = cli('issue', 'b.example.com', '--profile', 'server',
                  '--key', 'rsa-2048');
is($rc, 0, 'issue: 0');
my ($issued) = $out =~ /^([0-9a-f]{32})\s+b\.example\.com\s+ca\s+active/m;
ok($issued, 'issue: the new certificate');

($rc, $out) = cli('--json', 'list');
is($rc, 0, 'list --json: 0');
my $list = decode_json($out);
is(scalar @$list, 2, 'list --json: both');

($rc, $out) = cli('list', '--source', 'import');
like($out, qr/^\Q$id\E\s/m, 'list --source import: the import');
unlike($out, qr/b\.example\.com/, 'list --source import: not the issued');
($rc, $out) = cli('list', '--name', 'www.example.com');
like($out, qr/^\Q$id\E\s/m, 'list --name');

($rc, $out) = cli('show', $id);
is($rc, 0, 'show: 0');
is(decode_json($out)->{id}, $id, 'show: the certificate as JSON');

($rc, $out) = cli('renew', $issued);
is($rc, 0, 'renew: 0');
my ($renewed) = $out =~ /^([0-9a-f]{32})\s+b\.example\.com\s+ca\s+active/m;
ok($renewed && $renewed ne $issued, 'renew: a new certificate');

Certmate::Test::openssl('req', '-new', '-newkey', 'ec', '-pkeyopt',
                        'ec_paramgen_curve:P-256', '-nodes', '-keyout',
                        "$dir/c.key", '-subj', '/CN=c.example.com',
                        '-out', "$dir/c.csr");
($rc, $out) = cli('sign', "$dir/c.csr", '--profile', 'client');
is($rc, 0, 'sign: 0');
is(() = $out =~ /BEGIN CERTIFICATE/g, 2, 'sign: the certificate and chain');
my $signed = $t->write_file('c.pem', $out);
my $serial = Certmate::Test::openssl('x509', '-in', $signed, '-noout',
                                     '-serial') =~ s/^serial=|\s+$//gr;

($rc, $out) = cli('revoke', '--serial', $serial, '--reason', 'superseded');
is($rc, 0, 'revoke --serial: 0');
like($out, qr/^revoked \Q$serial\E$/m, 'revoke --serial: said');
($rc, $out) = cli('--json', 'revoke', $renewed, '--reason', 'keyCompromise');
is($rc, 0, 'revoke ID: 0');
is(decode_json($out)->{status}, 'revoked', 'revoke ID --json: revoked');

($rc, $out) = cli('est-token', 'd.example.com', '--expires-in', '1h');
is($rc, 0, 'est-token: 0');
like($out, qr/^[A-Za-z0-9_-]{43}$/m, 'est-token: the token');

($rc, $out) = cli('audit', '--type', 'certificate');
like($out, qr/certificate\.import\s+token ops\s+127\.0\.0\.1\s+\Q$id\E/,
     'audit: the import');

($rc, $out) = cli('delete', $id);
is($rc, 0, 'delete: 0');
like($out, qr/^deleted \Q$id\E$/m, 'delete: said');

# refusals and mistakes

($rc, $out) = cli('show', $id);
is($rc, 1, 'show of a deleted certificate: 1');
like($out, qr/^certmate: GET \/v1\/certificates\/\Q$id\E: not_found: no certificate/m,
     'the API\'s message');

($rc, $out) = cli('revoke', $id, '--reason', 'boredom');
is($rc, 1, 'a refused revocation: 1');
like($out, qr/invalid_request: unknown "reason" "boredom"/, 'why');

$out = Certmate::Test::run_cmd($cli, '--url', $url, '--token', 'wrong',
                               'list');
is($? >> 8, 1, 'a wrong token (--token): 1');
like($out, qr/unauthorized/, 'a wrong token: unauthorized');

$out = Certmate::Test::run_cmd($cli, '--url', $url, '--token', 'secret',
                               'list');
is($? >> 8, 0, 'the URL and token as flags');

($rc, $out) = cli('frobnicate');
is($rc, 2, 'an unknown command: 2');
like($out, qr/unknown command "frobnicate"/, 'an unknown command: said');
($rc, $out) = cli('issue');
is($rc, 2, 'issue without names: 2');

{
    local $ENV{CERTMATE_URL};
    my $o = Certmate::Test::run_cmd($cli, 'list');
    is($? >> 8, 2, 'no URL: 2');
    like($o, qr/--url or CERTMATE_URL is needed/, 'no URL: said');
}

# backup while nginx runs, restore when it is stopped

($rc, $out) = cli('backup', "$dir/store", "$dir/backup");
is($rc, 0, 'backup: 0');
ok(-s "$dir/backup/data.mdb", 'backup: a copy of the store');

($rc, $out) = cli('restore', "$dir/backup", "$dir/store");
is($rc, 1, 'restore while nginx has the store open: refused');
like($out, qr/is in use; stop nginx first/, 'restore: why');

cli('issue', 'later.example.com');
$t->stop;

($rc, $out) = cli('restore', "$dir/backup", "$dir/store");
is($rc, 0, 'restore: 0');

$t->run;

($rc, $out) = cli('list');
unlike($out, qr/later\.example\.com/, 'after the restore: what came later is gone');
like($out, qr/b\.example\.com/, 'after the restore: what the backup had');

$t->stop;

done_testing();
