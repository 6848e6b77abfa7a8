#!/usr/bin/perl

# Configuration: every mistake is an emerg at "nginx -t" time that names
# the directive, the file and the line; and the ways "certmate_certificate"
# and "ssl_certificate" combine.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $token = 'certmate_admin_token ops sha256:' . '0' x 64 . ';';
my $store = 'certmate_store %%DIR%%/store;';

my @cases = (
    [ "certmate_certificate on;\n"
      . "server { listen 127.0.0.1:%%PORT_a%% ssl; }",
      qr/"certmate_certificate" in \S+:(\d+) requires "certmate_store"/,
      'certmate_certificate on', 'certificate without a store' ],

    [ "server { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location / { certmate_admin; $token } }",
      qr/"certmate_admin" in \S+:(\d+) requires "certmate_store"/,
      'certmate_admin;', 'admin without a store' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location / { certmate_admin; } }",
      qr/"certmate_admin" in \S+:(\d+) has no "certmate_admin_token"/,
      'certmate_admin;', 'admin without a token' ],

    [ "certmate_store %%DIR%%/store max_size=lots;",
      qr/invalid max_size value "lots" in \S+:(\d+)/,
      'max_size=lots', 'bad size' ],

    [ "certmate_store %%DIR%%/store max_size=8k;",
      qr/max_size "8k" is too small, the minimum is 64k in \S+:(\d+)/,
      'max_size=8k', 'size too small' ],

    [ "certmate_store %%DIR%%/store max_size=1t;",
      qr/invalid max_size value "1t" in \S+:(\d+)/,
      'max_size=1t', 'unknown size unit' ],

    [ "certmate_store %%DIR%%/store maxsize=1m;",
      qr/invalid parameter "maxsize=1m", expected "max_size=" in \S+:(\d+)/,
      'maxsize=1m', 'unknown parameter' ],

    [ "$store\ncertmate_store %%DIR%%/other;",
      qr/"certmate_store" directive is duplicate in \S+:(\d+)/,
      'other;', 'two stores' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%%; certmate_store x; }",
      qr/"certmate_store" directive is not allowed here in \S+:(\d+)/,
      'certmate_store x', 'store in a server' ],

    [ "$store\ncertmate_certificate_cache 0;",
      qr/value must be equal to or greater than 1 in \S+:(\d+)/,
      'cache 0', 'cache of 0' ],

    [ "$store\ncertmate_certificate maybe;",
      qr/invalid value "maybe" in "certmate_certificate" directive, it must be "on" or "off" in \S+:(\d+)/,
      'maybe', 'certificate flag' ],

    [ "$store\ncertmate_default_certificate a/b;",
      qr/"certmate_default_certificate" directive has an invalid name in \S+:(\d+)/,
      'a/b', 'default certificate name' ],

    [ "$store\ncertmate_admin_token ops sha1:" . '0' x 40 . ';',
      qr/invalid hash of token "ops", expected "sha256:" and 64 hex digits in \S+:(\d+)/,
      'sha1:', 'token hash algorithm' ],

    [ "$store\ncertmate_admin_token ops sha256:" . 'g' x 64 . ';',
      qr/invalid hash of token "ops".* in \S+:(\d+)/, 'sha256:g',
      'token hash digits' ],

    [ "$store\ncertmate_admin_token ops sha256:abc;",
      qr/invalid hash of token "ops".* in \S+:(\d+)/, 'sha256:abc',
      'token hash length' ],

    [ "$store\n$token\ncertmate_admin_token ops sha256:" . '1' x 64 . ';',
      qr/duplicate token name "ops" in \S+:(\d+)/,
      'sha256:1111', 'token name twice' ],

    [ "$store\n$token\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location ~ ^/admin { certmate_admin; } }",
      qr/"certmate_admin" directive cannot be used in a regex location in \S+:(\d+)/,
      'certmate_admin;', 'admin in a regex location' ],

    [ "$store\n$token\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /a { certmate_admin; certmate_admin; } }",
      qr/"certmate_admin" directive is duplicate in \S+:(\d+)/,
      'certmate_admin;', 'admin twice' ],

    [ "$store\ncertmate_certificate on;\n"
      . "server { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_certificate off; }",
      qr/no "ssl_certificate" is defined for the server in \S+:(\d+), which has "certmate_certificate off"/,
      'server {', 'certmate off without ssl_certificate' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_certificate on;\n"
      . "ssl_certificate \$host.crt; ssl_certificate_key \$host.key; }",
      qr/"ssl_certificate" "\$host.crt" has variables, which "certmate_certificate" does not support/,
      undef, 'ssl_certificate with variables' ],

    [ "$store\ncertmate_acme_issuer le contact=mailto:a\@example.com;",
      qr/issuer "le" needs "directory=" in \S+:(\d+)/,
      'certmate_acme_issuer le', 'issuer without a directory' ],

    [ "$store\ncertmate_acme_issuer le directory=ftp://x/dir;",
      qr/"directory=" needs an http or https URL, not "ftp:\/\/x\/dir" in \S+:(\d+)/,
      'ftp://', 'directory not http' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir contact=ops;",
      qr/"contact=" needs a URI such as mailto:admin\@example.com, not "ops" in \S+:(\d+)/,
      'contact=ops', 'contact not a URI' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir key=ec-p521;",
      qr/invalid key type "ec-p521", expected ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096 in \S+:(\d+)/,
      'key=ec-p521', 'issuer key type' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir eab_kid=k;",
      qr/"eab_kid=" and "eab_hmac_key=" go together in \S+:(\d+)/,
      'eab_kid=k', 'EAB key id alone' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir eab_kid=k eab_hmac_key=a+b;",
      qr/"eab_hmac_key=" is not base64url in \S+:(\d+)/,
      'eab_hmac_key=a+b', 'EAB key not base64url' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir ca_bundle=/nonexistent.pem;",
      qr/cannot read "ca_bundle=" file "\/nonexistent.pem" \(2: No such file or directory\) in \S+:(\d+)/,
      'ca_bundle=', 'CA bundle missing' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir renew_before=soon;",
      qr/invalid parameter "renew_before=soon" in \S+:(\d+)/,
      'renew_before=soon', 'renew_before not a time' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir timeout=0;",
      qr/invalid parameter "timeout=0" in \S+:(\d+)/,
      'timeout=0', 'timeout of 0' ],

    [ "$store\ncertmate_acme_issuer le directory=https://x/dir retry=1s colour=red;",
      qr/invalid parameter "colour=red" in \S+:(\d+)/,
      'colour=red', 'unknown issuer parameter' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\ncertmate_acme_issuer le directory=https://y/dir;",
      qr/duplicate issuer "le", first in \S+:\d+ in \S+:(\d+)/,
      'https://y/dir', 'issuer twice' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com;\ncertmate_acme zerossl; }",
      qr/"certmate_acme" in \S+:(\d+) names the issuer "zerossl", which no "certmate_acme_issuer" defines/,
      'certmate_acme zerossl', 'unknown issuer' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\ncertmate_acme le;",
      qr/"certmate_acme" directive is not allowed here in \S+:(\d+)/,
      'certmate_acme le', 'certmate_acme at http level' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com *.example.com;\ncertmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) cannot get a certificate for "\*\.example\.com": HTTP-01 proves only exact DNS names/,
      'certmate_acme le', 'wildcard server_name' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name .example.com;\ncertmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) cannot get a certificate for "\.example\.com"/,
      'certmate_acme le', 'dot server_name' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name ~^www\\d+\\.example\\.com\$;\ncertmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) cannot take the regex server name "~\^www/,
      'certmate_acme le', 'regex server_name' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_acme le *.example.com; }",
      qr/"certmate_acme" in \S+:(\d+) cannot get a certificate for "\*\.example\.com"/,
      'certmate_acme le', 'wildcard name given' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_acme le localhost; }",
      qr/"certmate_acme" in \S+:(\d+) cannot get a certificate for "localhost"/,
      'certmate_acme le', 'single-label name' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) has no names: give them after the issuer or in "server_name"/,
      'certmate_acme le', 'no names' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com;\ncertmate_acme le; }\n"
      . "server { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "certmate_acme le A.example.com; }",
      qr/"certmate_acme" in \S+:(\d+) names "a\.example\.com", which "certmate_acme" in \S+:\d+ keeps already/,
      'certmate_acme le A.example', 'a name kept twice' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com;\ncertmate_certificate off;\n"
      . "certmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) needs "certmate_certificate on"/,
      'certmate_acme le', 'certmate_acme with certificate off' ],

    [ "certmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com;\ncertmate_acme le; }",
      qr/"certmate_acme" in \S+:(\d+) requires "certmate_store"/,
      'certmate_acme le', 'certmate_acme without a store' ],

    [ "$store\ncertmate_acme_issuer le directory=https://acme.example/dir;\nserver { listen 127.0.0.1:%%PORT_a%% ssl;\n"
      . "server_name a.example.com;\ncertmate_acme le;\n"
      . "certmate_acme le b.example.com; }",
      qr/"certmate_acme" directive is duplicate in \S+:(\d+)/,
      'le b.example.com', 'certmate_acme twice' ],
);

for my $case (@cases) {
    my ($conf, $re, $at, $name) = @$case;

    $t->conf("http {\n$conf\n}\n");

    my ($code, $out) = $t->test_config;
    isnt($code, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: emerg");
    my ($line) = $out =~ $re;
    ok($out =~ $re, "$name: message") or diag($out);

    next unless defined $at;

    my @lines = split /\n/, slurp($t->dir . '/nginx.conf');
    my ($want) = grep { index($lines[$_ - 1], $at) >= 0 } 1 .. @lines;
    is($line, $want, "$name: line");
}

# nginx -t on a good configuration does not touch the store

$t->conf(<<'EOF');
http {
    certmate_store %%DIR%%/store max_size=16g;
    server { listen 127.0.0.1:%%PORT_a%% ssl; certmate_certificate on; }
}
EOF

my ($code, $out) = $t->test_config;
is($code, 0, 'nginx -t: ok') or diag($out);
ok(!-e $t->dir . '/store/data.mdb', 'nginx -t: no store files');

# "ssl_certificate" before or after "certmate_certificate", in the server
# or at http level: it is the fallback either way

my $http = $t->cert('http', names => ['http.example.com']);
my $before = $t->cert('before', names => ['before.example.com']);
my $after = $t->cert('after', names => ['after.example.com']);
my $off = $t->cert('off', names => ['off.example.com']);

$t->conf(<<"EOF")->run;
http {
    certmate_store %%DIR%%/store;
    ssl_certificate $http->{crt};
    ssl_certificate_key $http->{key};

    server {
        listen 127.0.0.1:%%PORT_before%% ssl;
        ssl_certificate $before->{crt};
        ssl_certificate_key $before->{key};
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_after%% ssl;
        certmate_certificate on;
        ssl_certificate_key $after->{key};
        ssl_certificate $after->{crt};
    }

    server {
        listen 127.0.0.1:%%PORT_inherit%% ssl;
        certmate_certificate on;
    }

    server {
        listen 127.0.0.1:%%PORT_off%% ssl;
        ssl_certificate $off->{crt};
        ssl_certificate_key $off->{key};
        certmate_certificate off;
    }

    server {
        listen 127.0.0.1:%%PORT_plain%%;
        certmate_certificate on;
        location / { return 200 "plain"; }
    }
}
EOF

for my $case ([before => $before], [after => $after], [inherit => $http],
              [off => $off])
{
    my ($port, $cert) = @$case;
    is($t->handshake('unknown.example.com', port => $port)->{fingerprint},
       $cert->{fingerprint}, "fallback with ssl_certificate $port");
}

is(Certmate::Test::run_cmd('curl', '-s',
                           'http://127.0.0.1:' . $t->port('plain') . '/'),
   'plain', 'plain HTTP server with certmate_certificate on');

$t->stop;

# no ssl_certificate anywhere, and http-level certmate_certificate

$t->conf(<<'EOF')->run;
http {
    certmate_store %%DIR%%/store;
    certmate_certificate on;
    server { listen 127.0.0.1:%%PORT_a%% ssl; }
}
EOF

is($t->handshake('unknown.example.com', port => 'a')->{alert},
   'unrecognized name', 'http-level certmate_certificate');

$t->stop;

done_testing;
