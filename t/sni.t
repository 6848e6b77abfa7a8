#!/usr/bin/perl

# Certificates per SNI name from the store: import, replace, wildcard,
# ECDSA or RSA by what the client supports, delete and the fallbacks,
# unknown names, $certmate_certificate_id.  No reload anywhere.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $fallback = $t->cert('fallback', names => ['fallback.example.com']);

$t->conf(<<"EOF")->run;
http {
    access_log off;

    certmate_store %%DIR%%/store;
    certmate_certificate_cache 2;
    certmate_admin_token test sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b;

    server {
        listen 127.0.0.1:%%PORT_https%% ssl http2;
        certmate_certificate on;
        location / { return 200 "\$certmate_certificate_id"; }
    }

    server {
        listen 127.0.0.1:%%PORT_fallback%% ssl;
        ssl_certificate $fallback->{crt};
        ssl_certificate_key $fallback->{key};
        certmate_certificate on;
        location / { return 200 "[\$certmate_certificate_id]"; }
    }

    server {
        listen 127.0.0.1:%%PORT_default%% ssl;
        certmate_certificate on;
        certmate_default_certificate Default.Example.Com;
    }

    server {
        listen 127.0.0.1:%%PORT_admin%%;
        location /certmate/ { certmate_admin; }
    }
}
EOF

my $ca = $t->ca('root');
my $int = $t->ca('intermediate', issuer => $ca);

my $a1 = $t->cert('a1', names => ['a.example.com'], issuer => $int);
my $a2 = $t->cert('a2', names => ['a.example.com'], issuer => $int);
my $w = $t->cert('w', names => ['*.w.example.com']);
my $x = $t->cert('x', names => ['x.w.example.com']);
my $dual_ec = $t->cert('dual-ec', names => ['dual.example.com']);
my $dual_rsa = $t->cert('dual-rsa', names => ['dual.example.com'],
                        key => 'rsa-2048');
my $default = $t->cert('default', names => ['default.example.com'],
                       key => 'ec-p384');

# an empty store knows no name

is($t->handshake('a.example.com')->{alert}, 'unrecognized name',
   'unknown name: unrecognized_name alert');
is($t->handshake(undef)->{alert}, 'unrecognized name',
   'no SNI: unrecognized_name alert');
like($t->read_log, qr/\[info\].*certmate has no certificate for "a\.example\.com"/,
     'unknown name logged at info');

# import, and the next handshake has it

my ($status, $json) = $t->import_cert($a1);
is($status, 201, 'import: 201');
my $a1_id = $json->{id};
is($json->{fingerprint_sha256}, $a1->{fingerprint}, 'import: fingerprint');

my $hs = $t->handshake('a.example.com', args => ['-showcerts']);
is($hs->{fingerprint}, $a1->{fingerprint}, 'imported certificate served');

my @sent = $hs->{output} =~ /-----BEGIN CERTIFICATE-----/g;
is(scalar @sent, 2, 'leaf and intermediate sent');

like($t->handshake('a.example.com',
                   args => ['-CAfile', $ca->{crt}, '-verify_return_error',
                            '-verify_hostname', 'a.example.com'])->{output},
     qr/Verify return code: 0 \(ok\)/, 'chain verifies to the root');

is($t->handshake('A.Example.COM')->{fingerprint}, $a1->{fingerprint},
   'names are case-insensitive');

is(curl_id('a.example.com'), $a1_id, '$certmate_certificate_id');
is(curl_id('a.example.com', args => ['--http2']), $a1_id,
   '$certmate_certificate_id over HTTP/2');

# a chain given out of order is stored in order

($status, $json) = $t->admin('POST', '/v1/certificates', json => {
    certificate => slurp($ca->{crt}) . slurp($a2->{crt}) . slurp($int->{crt}),
    private_key => slurp($a2->{key}),
});
is($status, 201, 'replacement imported, chain out of order');

$hs = $t->handshake('a.example.com', args => ['-showcerts']);
is($hs->{fingerprint}, $a2->{fingerprint}, 'replacement served at once');

my @pems = $hs->{output} =~ /(-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----)/gs;
is(scalar @pems, 3, 'leaf, intermediate and root sent');
is(fp_of($pems[1]), Certmate::Test::fingerprint($int->{crt}),
   'intermediate second');
is(fp_of($pems[2]), Certmate::Test::fingerprint($ca->{crt}), 'root last');

# wildcards cover one label; an exact name wins over a wildcard

is(($t->import_cert($w))[0], 201, 'wildcard imported');
is($t->handshake('x.w.example.com')->{fingerprint}, $w->{fingerprint},
   'wildcard served');
is($t->handshake('y.w.example.com')->{fingerprint}, $w->{fingerprint},
   'wildcard served for another name');
is($t->handshake('a.b.w.example.com')->{alert}, 'unrecognized name',
   'wildcard covers one label only');
is($t->handshake('w.example.com')->{alert}, 'unrecognized name',
   'wildcard does not cover its parent');

is(($t->import_cert($x))[0], 201, 'exact name imported');
is($t->handshake('x.w.example.com')->{fingerprint}, $x->{fingerprint},
   'exact name before wildcard');
is($t->handshake('y.w.example.com')->{fingerprint}, $w->{fingerprint},
   'wildcard still serves the others');

# ECDSA for clients that can, RSA for those that cannot

is(($t->import_cert($dual_rsa))[0], 201, 'RSA certificate imported');
is(($t->import_cert($dual_ec))[0], 201, 'ECDSA certificate imported');

$hs = $t->handshake('dual.example.com');
is($hs->{protocol}, 'TLSv1.3', 'TLS 1.3');
is($hs->{fingerprint}, $dual_ec->{fingerprint},
   'TLS 1.3 client with ECDSA gets ECDSA');
$hs = $t->handshake('dual.example.com', args => [
    '-sigalgs', 'rsa_pss_rsae_sha256:rsa_pkcs1_sha256']);
is($hs->{protocol}, 'TLSv1.3', 'TLS 1.3, RSA only');
is($hs->{fingerprint}, $dual_rsa->{fingerprint},
   'TLS 1.3 RSA-only client gets RSA');
$hs = $t->handshake('dual.example.com', args => [
    '-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
is($hs->{protocol}, 'TLSv1.2', 'TLS 1.2');
is($hs->{fingerprint}, $dual_rsa->{fingerprint},
   'TLS 1.2 RSA-only client gets RSA');
is($t->handshake('dual.example.com', args => [
       '-tls1_2', '-cipher', 'ECDHE-ECDSA-AES128-GCM-SHA256'])->{fingerprint},
   $dual_ec->{fingerprint}, 'TLS 1.2 ECDSA client gets ECDSA');

is(curl_id('dual.example.com', args => ['--tls-max', '1.2', '--ciphers',
                                        'ECDHE-RSA-AES128-GCM-SHA256']),
   substr($dual_rsa->{fingerprint}, 0, 32),
   '$certmate_certificate_id names the RSA certificate');

# delete: the older certificate of the name comes back, then the fallbacks

my $a2_id = substr($a2->{fingerprint}, 0, 32);
is(($t->admin('DELETE', "/v1/certificates/$a2_id"))[0], 204, 'deleted');
is($t->handshake('a.example.com')->{fingerprint}, $a1->{fingerprint},
   'after delete the older certificate of the name is served');

is(($t->admin('DELETE', "/v1/certificates/$a1_id"))[0], 204,
   'deleted the last one');
is($t->handshake('a.example.com')->{alert}, 'unrecognized name',
   'deleted name: unrecognized_name alert');
is($t->handshake('a.example.com', port => 'fallback')->{fingerprint},
   $fallback->{fingerprint}, 'deleted name: the server\'s ssl_certificate');
is($t->handshake(undef, port => 'fallback')->{fingerprint},
   $fallback->{fingerprint}, 'no SNI: the server\'s ssl_certificate');
is(curl_id('a.example.com', port => 'fallback'), '[]',
   '$certmate_certificate_id is empty for ssl_certificate');
is($t->handshake('x.w.example.com', port => 'fallback')->{fingerprint},
   $x->{fingerprint}, 'the store before ssl_certificate');

is($t->handshake('a.example.com', port => 'default')->{alert},
   'unrecognized name', 'default certificate not in the store yet');
is(($t->import_cert($default))[0], 201, 'default certificate imported');
is($t->handshake('a.example.com', port => 'default')->{fingerprint},
   $default->{fingerprint}, 'unknown name: certmate_default_certificate');
is($t->handshake(undef, port => 'default')->{fingerprint},
   $default->{fingerprint}, 'no SNI: certmate_default_certificate');
is($t->handshake('x.w.example.com', port => 'default')->{fingerprint},
   $x->{fingerprint}, 'the store before the default certificate');

# the cache holds 2 entries: everything above went through evictions

for my $c ($x, $w, $dual_ec, $default, $x) {
    my $name = $c == $w ? 'q.w.example.com'
             : $c == $x ? 'x.w.example.com'
             : $c == $default ? 'default.example.com' : 'dual.example.com';
    is($t->handshake($name)->{fingerprint}, $c->{fingerprint},
       "after evictions $name");
}

# a reload changes nothing of what is served

$t->reload;
is($t->handshake('x.w.example.com')->{fingerprint}, $x->{fingerprint},
   'served after a reload');

$t->stop;

done_testing;


sub curl_id {
    my ($name, %opts) = @_;

    my $port = $t->port($opts{port} || 'https');
    return Certmate::Test::run_cmd('curl', '-sk', @{$opts{args} || []},
                                   '--resolve', "$name:$port:127.0.0.1",
                                   "https://$name:$port/");
}

sub fp_of {
    my ($pem) = @_;
    my $path = $t->write_file('fp.crt', "$pem\n");
    return Certmate::Test::fingerprint($path);
}
