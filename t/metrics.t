#!/usr/bin/perl

# certmate_metrics: the Prometheus text format, parsed strictly here and
# checked by promtool; every family with values that follow what was
# done: handshakes by how their certificate was chosen, client
# verifications by result and revocation, certificates by status and
# expiry, the helper, the store; counters kept across a reload; the
# refusals and the configuration errors.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Socket::SSL;
use Test::More;
use Time::Local qw(timegm);
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $fallback = $t->cert('fallback', names => ['fallback.example.com']);
my $root = $t->ca('root');
my $web = $t->cert('web', names => ['a.example.com'], issuer => $root);
my $dflt = $t->cert('default', names => ['default.example.com'],
                    issuer => $root);

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store max_size=16m;
    certmate_admin_token ops sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;
    certmate_ca;

    server {
        listen 127.0.0.1:%%PORT_admin%%;

        location /certmate/ {
            certmate_admin;
        }

        location = /metrics {
            certmate_metrics;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_https%% ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_default%% ssl;
        certmate_certificate on;
        certmate_default_certificate default.example.com;
    }

    server {
        listen 127.0.0.1:%%PORT_fallback%% ssl;
        ssl_certificate $fallback->{crt};
        ssl_certificate_key $fallback->{key};
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_mtls%% ssl;
        ssl_certificate $fallback->{crt};
        ssl_certificate_key $fallback->{key};
        certmate_verify_client optional;

        location / {
            return 200 "ok\\n";
        }
    }
}
EOF

ok($t->wait_for(sub {
    my (undef, $j) = $t->admin('GET', '/v1/ca');
    $j && $j->{state} eq 'ready';
}, 10), 'the CA is ready');

# --- the parser -----------------------------------------------------------

# the text format, strictly: families declared once by HELP and TYPE
# before their samples, samples of a family together, valid names, label
# values quoted with only \\, \" and \n escaped, no series twice

sub parse {
    my ($text) = @_;

    my (%family, %seen, @errors, $current);
    my $n = 0;

    for my $line (split /\n/, $text, -1) {
        $n++;

        if ($line eq '') {
            push @errors, "line $n: empty" if $n <= ($text =~ tr/\n//);
            next;
        }

        if (my ($name, $help) =
                $line =~ /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (\S.*)$/)
        {
            push @errors, "line $n: HELP for $name twice"
                if $family{$name} && $family{$name}{help};
            $family{$name}{help} = $help;
            $current = $name;
            next;
        }

        if (my ($name, $type) =
                $line =~ /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/)
        {
            push @errors, "line $n: TYPE for $name twice"
                if $family{$name} && $family{$name}{type};
            push @errors, "line $n: TYPE of $name after its samples"
                if $family{$name} && $family{$name}{samples};
            push @errors, "line $n: counter $name without _total"
                if $type eq 'counter' && $name !~ /_total$/;
            $family{$name}{type} = $type;
            $current = $name;
            next;
        }

        my ($name, $labels, $value) =
            $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
            or do { push @errors, "line $n: not a sample: $line"; next };

        push @errors, "line $n: $name is not the family declared last"
            unless defined $current && $name eq $current;
        push @errors, "line $n: $name has no TYPE"
            unless $family{$name}{type};
        push @errors, "line $n: value \"$value\" is not a number"
            unless $value =~ /^-?(?:\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|\+?Inf|NaN)$/;

        my %l;
        my $rest = $labels // '';

        while ($rest ne '') {
            $rest =~ s/^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)//
                or do { push @errors, "line $n: bad labels {$labels}"; last };
            push @errors, "line $n: label $1 twice" if exists $l{$1};
            $l{$1} = $2 =~ s/\\n/\n/gr =~ s/\\(["\\])/$1/gr;
        }

        my $key = $name . '{' . join(',', map { "$_=$l{$_}" } sort keys %l)
                  . '}';
        push @errors, "line $n: $key twice" if $seen{$key}++;

        $family{$name}{samples}++;
        push @{$family{$name}{series}}, { labels => \%l, value => $value };
    }

    push @errors, 'the text does not end with a line feed'
        if $text ne '' && $text !~ /\n\z/;

    return (\%family, \@errors);
}

# a scrape: (status, headers, families)

sub scrape {
    my (@curl) = @_;

    my $out = Certmate::Test::run_cmd('curl', '-s', '-D', "$dir/m.headers",
        '-o', "$dir/m.body", '-w', '%{http_code}', @curl,
        'http://127.0.0.1:' . $t->port('admin') . '/metrics');
    my $body = slurp("$dir/m.body");
    my ($families, $errors) = parse($body);

    return ($out, slurp("$dir/m.headers"), $families, $errors, $body);
}

sub value {
    my ($families, $name, %want) = @_;

    for my $s (@{$families->{$name}{series} || []}) {
        next if grep { ($s->{labels}{$_} // '') ne $want{$_} } keys %want;
        return $s->{value};
    }

    return undef;
}

sub promtool {
    my ($body) = @_;

    my $out = Certmate::Test::run_cmd('promtool', 'check', 'metrics',
                                      { stdin => $body });
    return ($? >> 8, $out);
}

# --- what is measured -------------------------------------------------

my ($s, $imported) = $t->import_cert($web);
is($s, 201, 'a certificate imported');
$t->import_cert($dflt);

my $hs = $t->handshake('a.example.com');
is(substr($hs->{fingerprint} // '', 0, 32), $imported->{id},
   'a handshake served from the store');
$hs = $t->handshake('a.example.com');
$hs = $t->handshake('nobody.example.com');
is($hs->{alert}, 'unrecognized name', 'an unknown name');
$hs = $t->handshake('nobody.example.com', port => 'default');
ok($hs->{fingerprint}, 'an unknown name gets the default certificate');
$hs = $t->handshake('nobody.example.com', port => 'fallback');
ok($hs->{fingerprint}, 'an unknown name gets the ssl_certificate');

# a certificate of the built-in CA, revoked

my (undef, $issued) = $t->admin('POST', '/v1/certificates/issue',
    json => { names => ['revoked.example.com'] });
($s) = $t->admin('POST', "/v1/certificates/$issued->{id}/revoke");
is($s, 200, 'an issued certificate revoked');

# client certificates of the built-in CA, from CSRs: one good, one revoked

my %cred;

for my $name ('good', 'bad') {
    my $key = $t->genkey("$dir/$name.key", 'ec-p256');
    Certmate::Test::openssl('req', '-new', '-key', $key, '-subj',
                            "/CN=$name.clients.example.com",
                            '-out', "$dir/$name.csr");
    my (undef, $signed) = $t->admin('POST', '/v1/ca/sign',
        json => { csr => scalar slurp("$dir/$name.csr"),
                  profile => 'client' });
    $cred{$name} = { key => $key,
                     crt => $t->write_file("$name.crt",
                                           $signed->{certificate}),
                     serial => $signed->{serial} };
}

($s) = $t->admin('POST', "/v1/serials/$cred{bad}{serial}/revoke");
is($s, 200, 'a client certificate revoked');

sub mtls {
    my (@cert) = @_;
    return Certmate::Test::run_cmd('curl', '-sk', '-o', '/dev/null',
        '-w', '%{http_code}', @cert,
        'https://127.0.0.1:' . $t->port('mtls') . '/');
}

is(mtls('--cert', $cred{good}{crt}, '--key', $cred{good}{key}), 200,
   'mTLS: a good client certificate');
is(mtls('--cert', $cred{bad}{crt}, '--key', $cred{bad}{key}), 400,
   'mTLS: a revoked client certificate');
is(mtls(), 200, 'mTLS: no client certificate');

# --- the scrape ---------------------------------------------------------

my ($code, $headers, $m, $errors, $body) = scrape();
is($code, 200, 'GET /metrics: 200');
like($headers, qr{^Content-Type: text/plain; version=0\.0\.4; charset=utf-8\r$}m,
     'the Prometheus text format\'s content type');
like($headers, qr/^Content-Length: \d+\r$/m, 'Content-Length');
is_deeply($errors, [], 'the text parses strictly') or diag($body);

SKIP: {
    skip 'promtool is not installed', 1
        if system('command -v promtool >/dev/null 2>&1');
    my ($rc, $out) = promtool($body);
    is($rc, 0, 'promtool check metrics: no problem') or diag($out);
}

is(value($m, 'certmate_handshakes_total', outcome => 'store'), 2,
   'handshakes: two from the store');
is(value($m, 'certmate_handshakes_total', outcome => 'unknown_name'), 1,
   'handshakes: one unknown name');
is(value($m, 'certmate_handshakes_total', outcome => 'default'), 1,
   'handshakes: one default certificate');
is(value($m, 'certmate_handshakes_total', outcome => 'fallback'), 1,
   'handshakes: one ssl_certificate');
is(value($m, 'certmate_handshakes_total', outcome => 'error'), 0,
   'handshakes: no store failure');

is(value($m, 'certmate_client_verifications_total', result => 'success',
         revocation => 'good'), 1, 'verifications: one good');
is(value($m, 'certmate_client_verifications_total', result => 'success',
         revocation => 'revoked'), 1, 'verifications: one revoked');
is(value($m, 'certmate_client_verifications_total', result => 'none',
         revocation => 'not_checked'), 1, 'verifications: one without');

my ($y, $mo, $d, $h, $mi, $se) =
    $imported->{not_after} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/;
is(value($m, 'certmate_certificate_expiry_timestamp_seconds',
         id => $imported->{id}, name => 'a.example.com', source => 'import',
         key_type => 'ec-p256'),
   timegm($se, $mi, $h, $d, $mo - 1, $y),
   'expiry: the imported certificate\'s notAfter, with its labels');
is(scalar @{$m->{certmate_certificate_expiry_timestamp_seconds}{series}}, 3,
   'expiry: every stored certificate');
is(value($m, 'certmate_certificates', status => 'active'), 2,
   'certificates: two active');
is(value($m, 'certmate_certificates', status => 'revoked'), 1,
   'certificates: one revoked');
is(value($m, 'certmate_certificates', status => 'expired'), 0,
   'certificates: none expired');

my $run = value($m, 'certmate_helper_last_run_timestamp_seconds');
ok($run && abs($run - time) < 10, 'the helper ran just now');
is(value($m, 'certmate_store_size_bytes'), 16 * 1024 * 1024,
   'the store\'s size: max_size');
ok(value($m, 'certmate_store_used_bytes') > 0, 'the store\'s use');
ok(value($m, 'certmate_store_readers') >= 1, 'the store\'s readers');
is(value($m, 'certmate_acme_orders_total', result => 'success'), 0,
   'no ACME orders');

# counters are kept across a reload

$t->reload;
$t->handshake('a.example.com');
(undef, undef, $m) = scrape();
is(value($m, 'certmate_handshakes_total', outcome => 'store'), 3,
   'a reload keeps the counters');

# refusals

($code, $headers) = scrape('-X', 'POST');
is($code, 405, 'POST /metrics: 405');
like($headers, qr/^Allow: GET, HEAD\r$/m, 'POST /metrics: Allow');
($code, $headers) = scrape('-I');
is($code, 200, 'HEAD /metrics: 200');

$t->stop;

# --- configuration ---------------------------------------------------------

for my $case (
    [ "server { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /m { certmate_metrics; } }",
      qr/"certmate_metrics" in \S+:(\d+) requires "certmate_store"/,
      'without a store' ],
    [ "certmate_store %%DIR%%/store;\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /m { certmate_metrics on; } }",
      qr/invalid number of arguments in "certmate_metrics" directive in \S+:(\d+)/,
      'with an argument' ],
    [ "certmate_store %%DIR%%/store;\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /m { certmate_metrics; return 200; } }",
      undef, 'beside return (return wins, as in nginx)' ],
    [ "certmate_store %%DIR%%/store;\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /m { certmate_admin; certmate_metrics; } }",
      qr/"certmate_metrics" directive is duplicate, or the location has another handler in \S+:(\d+)/,
      'in the admin location' ],
    [ "certmate_store %%DIR%%/store;\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "certmate_metrics; }",
      qr/"certmate_metrics" directive is not allowed here in \S+:(\d+)/,
      'in a server' ])
{
    my ($conf, $re, $name) = @$case;

    $t->conf("http {\n$conf\n}\n");
    my ($rc, $out) = $t->test_config;

    if (!defined $re) {
        is($rc, 0, "certmate_metrics $name: nginx -t passes") or diag($out);
        next;
    }

    isnt($rc, 0, "certmate_metrics $name: nginx -t fails");
    ok($out =~ $re, "certmate_metrics $name: message") or diag($out);
}

done_testing();
