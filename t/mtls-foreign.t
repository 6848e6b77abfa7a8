#!/usr/bin/perl

# Revocation of foreign client certificates from data the helper fetches:
# a configured CRL (listed refused, unlisted admitted, an update picked
# up within its interval, a CRL that can no longer be fetched turning
# stale), a CRL found in the certificates' distribution points, OCSP
# answers of "openssl ocsp" for certificates seen, answers not taken (not
# OCSP, signed by another CA), and no data at all; "certmate_revocation
# hard" and "soft".

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Time::HiRes qw(time sleep);
use Test::More;
use Certmate::Test qw(slurp);
use Certmate::OpensslCA;

my $t = Certmate::Test->new;
my $dir = $t->dir;

mkdir "$dir/files";

my $files = 'http://127.0.0.1:' . $t->port('files');
my $ocsp_url = 'http://127.0.0.1:' . $t->port('ocsp');

my $server = $t->cert('gateway', names => ['localhost']);

my $ca_a = Certmate::OpensslCA->new($t, 'crl-ca');
my $ca_b = Certmate::OpensslCA->new($t, 'dp-ca');
my $ca_c = Certmate::OpensslCA->new($t, 'ocsp-ca');
my $ca_d = Certmate::OpensslCA->new($t, 'silent-ca');
my $ca_e = Certmate::OpensslCA->new($t, 'bad-ocsp-ca');

my $a_good = $ca_a->client('a-good');
my $a_revoked = $ca_a->client('a-revoked');
my $a_later = $ca_a->client('a-later');
$ca_a->revoke($a_revoked, 'keyCompromise');
$ca_a->crl("$dir/files/a.crl");

my @dp = (ext => ["crlDistributionPoints=URI:$files/b.crl"]);
my $b_good = $ca_b->client('b-good', @dp);
my $b_revoked = $ca_b->client('b-revoked', @dp);
$ca_b->revoke($b_revoked, 'superseded');
$ca_b->crl("$dir/files/b.crl");

my @aia = (ext => ["authorityInfoAccess=OCSP;URI:$ocsp_url"]);
my $c_good = $ca_c->client('c-good', @aia);
my $c_revoked = $ca_c->client('c-revoked', @aia);
$ca_c->revoke($c_revoked, 'cessationOfOperation');
$ca_c->ocsp_start($t->port('ocsp'));

my $d_client = $ca_d->client('d-client');

# a responder that answers no OCSP, and the responder of another CA

my $e_garbage = $ca_e->client('e-garbage',
    ext => ["authorityInfoAccess=OCSP;URI:$files/not-ocsp"]);
my $e_other = $ca_e->client('e-other', @aia);

$t->write_file('anchors.pem', join '', map { slurp($_->crt) }
                                           $ca_a, $ca_b, $ca_c, $ca_d, $ca_e);

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    certmate_crl_fetch $files/a.crl interval=1s;

    server {
        listen 127.0.0.1:%%PORT_files%%;
        root %%DIR%%/files;

        location = /metrics {
            certmate_metrics;
        }

        location = /not-ocsp {
            return 200 "not an OCSP answer\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_soft%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};

        certmate_verify_client on;
        certmate_client_ca %%DIR%%/anchors.pem;
        certmate_revocation soft max_age=3s;

        location / {
            return 200 "\$certmate_client_revocation\\n";
        }
    }

    server {
        listen 127.0.0.1:%%PORT_hard%% ssl;

        ssl_certificate $server->{crt};
        ssl_certificate_key $server->{key};

        certmate_verify_client on;
        certmate_client_ca %%DIR%%/anchors.pem;
        certmate_revocation hard max_age=3s;

        location / {
            return 200 "\$certmate_client_revocation\\n";
        }

        location /soft/ {
            certmate_revocation soft;
            return 200 "\$certmate_client_revocation\\n";
        }
    }
}
EOF

sub get {
    my ($port, $cert, $path) = @_;

    my $out = Certmate::Test::run_cmd('curl', '-sk', '-o', "$dir/out",
        '-w', '%{http_code}', '--cert', $cert->{crt}, '--key', $cert->{key},
        'https://127.0.0.1:' . $t->port($port) . ($path || '/'));

    my $body = slurp("$dir/out");
    chomp $body;
    return $out == 200 ? $body : $out;
}

# --- a configured CRL ---------------------------------------------------

ok($t->wait_log(qr/certmate fetched the CRL "\Q$files\E\/a.crl": 1 entries/),
   'the configured CRL is fetched');

is(get('soft', $a_good), 'good', 'a certificate the CRL does not list');
is(get('hard', $a_good), 'good', 'also with hard');
is(get('soft', $a_revoked), 400, 'a certificate the CRL lists: 495');
ok($t->wait_log(qr/serial \S+ is revoked \(keyCompromise\)/),
   'refused with the CRL\'s reason');

# --- a distribution point: unknown until the helper has fetched it ------

is(get('soft', $b_good), 'unknown', 'a distribution point not fetched yet');
ok($t->wait_log(qr/certmate will fetch the CRL "\Q$files\E\/b.crl"/),
   'the handshake noted the distribution point');
ok($t->wait_log(qr/certmate fetched the CRL "\Q$files\E\/b.crl": 1 entries/),
   'the helper fetched it');
is(get('soft', $b_good), 'good', 'then the certificate is good');
is(get('hard', $b_revoked), 400, 'and the listed one refused');

# --- OCSP answers for the certificates seen -----------------------------

is(get('soft', $c_good), 'unknown', 'no OCSP answer yet: unknown');
is(get('soft', $c_revoked), 'unknown', 'for both');
ok($t->wait_for(sub { get('soft', $c_good) eq 'good' }, 10),
   'the helper got the OCSP answer: good');
ok($t->wait_for(sub { get('soft', $c_revoked) eq '400' }, 10),
   'and revoked');
ok($t->wait_log(qr/certmate OCSP answer from "\Q$ocsp_url\E": revoked/),
   'the answers are logged');

# --- the age of what the helper fetched, in the metrics ------------------

my $metrics = Certmate::Test::run_cmd('curl', '-s',
    'http://127.0.0.1:' . $t->port('files') . '/metrics');

for my $crl ('a.crl', 'b.crl') {
    my ($age) = $metrics =~ /^certmate_crl_age_seconds\{url="\Q$files\E\/$crl"\} (\d+)$/m;
    ok(defined $age && $age < 10, "metrics: the age of $crl")
        or diag($metrics);
}

my @ocsp = $metrics =~ /^certmate_ocsp_age_seconds\{issuer_hash="[0-9a-f]{64}",serial="[0-9a-f]+"\} (\d+)$/mg;
is(scalar @ocsp, 2, 'metrics: an OCSP answer for each certificate seen');
ok(!grep({ $_ >= 10 } @ocsp), 'metrics: the OCSP answers are fresh');

# --- answers not taken: the certificate stays unknown --------------------

is(get('soft', $e_garbage), 'unknown', 'a responder that answers no OCSP');
ok($t->wait_log(qr/\[error\].*certmate cannot take an OCSP answer from "\Q$files\E\/not-ocsp": not a successful OCSP response, retrying in \d+ s/),
   'its answer is refused and logged');
is(get('soft', $e_other), 'unknown', 'the responder of another CA');
ok($t->wait_log(qr/\[error\].*certmate cannot take an OCSP answer from "\Q$ocsp_url\E": an OCSP response not signed for the CA, retrying in \d+ s/),
   'its answer is refused and logged');
is(get('soft', $e_garbage), 'unknown', 'still unknown after the refusal');
is(get('soft', $e_other), 'unknown', 'both');
is(get('hard', $e_other), 400, 'hard refuses them');

# --- no data ------------------------------------------------------------

is(get('soft', $d_client), 'unknown', 'no data: soft admits as unknown');
is(get('hard', $d_client), 400, 'hard refuses');
ok($t->wait_log(qr/refused: revocation status is unknown and "certmate_revocation" is hard/),
   'the refusal says why');
is(get('hard', $d_client, '/soft/'), 'unknown',
   'a location may be soft in a hard server');

# --- an updated CRL is picked up within its interval --------------------

is(get('hard', $a_later), 'good', 'not revoked yet');

$ca_a->revoke($a_later, 'affiliationChanged');
$ca_a->crl("$dir/files/a.crl");
my $start = time;

ok($t->wait_for(sub { get('hard', $a_later) eq '400' }, 10),
   'revoked in the updated CRL: refused');
my $delay = time - $start;
ok($delay < 3, sprintf('within the 1 s interval and a scan (%.1f s)',
                       $delay));

# --- a CRL that can no longer be fetched turns stale --------------------

unlink "$dir/files/a.crl";

ok($t->wait_log(qr/certmate cannot take the CRL "\Q$files\E\/a.crl": status 404/),
   'a failed fetch is logged');
ok($t->wait_for(sub { get('soft', $a_good) eq 'stale' }, 10),
   'after max_age soft admits it as stale');
is(get('hard', $a_good), 400, 'and hard refuses');
ok($t->wait_log(qr/revocation status is stale/), 'as stale');
is(get('soft', $a_revoked), 400, 'a stale CRL still refuses what it lists');

$ca_c->ocsp_stop;
$t->stop;

done_testing;
