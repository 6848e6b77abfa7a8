#!/usr/bin/perl

# Configuration of the built-in CA: every mistake in certmate_ca,
# certmate_profile, certmate_crl and certmate_ocsp is an emerg at
# "nginx -t" time with the file and the line; good ones pass.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;

my $store = 'certmate_store %%DIR%%/store;';
my $ca = "$store\ncertmate_ca;";

my $root = $t->ca('root');
my $sub = $t->ca('sub', issuer => $root);
my $other = $t->ca('other');
my $leaf = $t->cert('leaf', names => ['leaf.example.com'], issuer => $root);
my $broken_chain = $t->write_file('broken-chain.pem',
                                  slurp($sub->{crt}) . slurp($other->{crt}));
my $p521 = $t->write_file('p521.key', '');
Certmate::Test::openssl('genpkey', '-algorithm', 'EC', '-pkeyopt',
                        'ec_paramgen_curve:P-521', '-out', $p521);
my $p521_crt = $t->write_file('p521.crt', '');
Certmate::Test::openssl('req', '-x509', '-new', '-key', $p521, '-subj',
                        '/CN=p521', '-addext',
                        'basicConstraints=critical,CA:TRUE',
                        '-out', $p521_crt);

my @cases = (
    [ "certmate_ca;",
      qr/"certmate_ca" in \S+:(\d+) requires "certmate_store"/,
      'certmate_ca;', 'CA without a store' ],

    [ "$store\ncertmate_ca colour=blue;",
      qr/invalid parameter "colour=blue" in \S+:(\d+)/,
      'colour=blue', 'unknown parameter' ],

    [ "$store\ncertmate_ca key=ec-p521;",
      qr/invalid key type "ec-p521", expected ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096 in \S+:(\d+)/,
      'key=ec-p521', 'bad key type' ],

    [ "$store\ncertmate_ca validity=forever;",
      qr/invalid "validity=" "forever": expected a time of a day or more, like 3650d in \S+:(\d+)/,
      'validity=forever', 'bad validity' ],

    [ "$store\ncertmate_ca validity=1h;",
      qr/invalid "validity=" "1h".* in \S+:(\d+)/, 'validity=1h', 'validity under a day' ],

    [ "$store\ncertmate_ca \"subject=O=No Common Name\";",
      qr/invalid "subject=" "O=No Common Name": expected "CN=..." .* in \S+:(\d+)/,
      'subject=O=No', 'subject without CN' ],

    [ "$store\ncertmate_ca subject=CN;",
      qr/invalid "subject=" "CN".* in \S+:(\d+)/, 'subject=CN', 'unparsable subject' ],

    [ "$store\ncertmate_ca subject=XYZ=1,CN=a;",
      qr/invalid "subject=" "XYZ=1,CN=a".* in \S+:(\d+)/, 'subject=XYZ', 'unknown attribute' ],

    [ "$store\ncertmate_ca crl_url=ftp://x/crl;",
      qr/"crl_url=ftp:\/\/x\/crl" is not an http:\/\/ or https:\/\/ URL in \S+:(\d+)/,
      'crl_url=ftp', 'bad CRL URL' ],

    [ "$store\ncertmate_ca ocsp_url=http://a/b,c;",
      qr/a URL with a comma cannot go into a certificate here in \S+:(\d+)/,
      'ocsp_url=', 'URL with a comma' ],

    [ "$store\ncertmate_ca cert=$sub->{crt};",
      qr/"cert=" and "key_file=" go together in \S+:(\d+)/,
      'cert=', 'cert without key_file' ],

    [ "$store\ncertmate_ca cert=%%DIR%%/missing.pem key_file=$sub->{key};",
      qr/open\(\) "\S+missing\.pem" failed .* in \S+:(\d+)/,
      'missing.pem', 'missing cert file' ],

    [ "$store\ncertmate_ca cert=$leaf->{crt} key_file=$leaf->{key};",
      qr/the first certificate of "\S+leaf\.crt" is not a CA certificate in \S+:(\d+)/,
      'leaf.crt', 'a leaf as the CA' ],

    [ "$store\ncertmate_ca cert=$sub->{crt} key_file=$other->{key};",
      qr/the key of "\S+other\.key" does not belong to the first certificate of "\S+sub\.crt" in \S+:(\d+)/,
      'other.key', 'key of another' ],

    [ "$store\ncertmate_ca cert=$sub->{key} key_file=$sub->{key};",
      qr/"cert=" file "\S+sub\.key" has no PEM certificate in \S+:(\d+)/,
      'cert=', 'a key as the certificate' ],

    [ "$store\ncertmate_ca cert=$sub->{crt} key_file=$sub->{crt};",
      qr/"key_file=" file "\S+sub\.crt" has no PEM private key.* in \S+:(\d+)/,
      'key_file=', 'a certificate as the key' ],

    [ "$store\ncertmate_ca cert=$p521_crt key_file=$p521;",
      qr/is not one of the types ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096 in \S+:(\d+)/,
      'p521.key', 'an unsupported CA key' ],

    [ "$store\ncertmate_ca cert=$sub->{crt} key_file=$sub->{key} key=ec-p256;",
      qr/"cert=" imports a CA: "key=", "subject=" and "validity=" are for a CA certmate makes in \S+:(\d+)/,
      'key=ec-p256', 'import with key=' ],

    [ "$ca\ncertmate_ca;",
      qr/"certmate_ca" directive is duplicate in \S+:(\d+)/,
      undef, 'two CAs' ],

    [ "$store\ncertmate_ca key_file=$sub->{key};",
      qr/"cert=" and "key_file=" go together in \S+:(\d+)/,
      'key_file=', 'key_file without cert' ],

    [ "$store\ncertmate_ca cert=$sub->{crt} key_file=%%DIR%%/missing.key;",
      qr/open\(\) "\S+missing\.key" failed .* in \S+:(\d+)/,
      'missing.key', 'missing key file' ],

    [ "$store\ncertmate_ca cert=$broken_chain key_file=$sub->{key};",
      qr/(?:chain|issue|sign)[^\n]* in \S+:(\d+)/,
      'broken-chain.pem',
      'a chain whose second certificate is not the issuer' ],

    [ "$store\ncertmate_ca subject=;",
      qr/invalid parameter "subject=" in \S+:(\d+)/,
      'subject=;', 'empty subject' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%%;\ncertmate_ca; }",
      qr/"certmate_ca" directive is not allowed here in \S+:(\d+)/,
      'certmate_ca;', 'CA in a server' ],

    [ "$store\ncertmate_profile web;",
      qr/"certmate_profile" in \S+:(\d+) requires "certmate_ca"/,
      'certmate_profile web', 'profile without a CA' ],

    [ "$ca\ncertmate_profile web usage=everything;",
      qr/invalid usage "everything", expected "server", "client" or "server,client" in \S+:(\d+)/,
      'usage=everything', 'bad usage' ],

    [ "$ca\ncertmate_profile web key=ec-p256,dsa;",
      qr/invalid key type "dsa".* in \S+:(\d+)/, 'key=ec-p256,dsa', 'bad key list' ],

    [ "$ca\ncertmate_profile web validity=90d max_validity=30d;",
      qr/profile "web" has "validity=" longer than "max_validity=" in \S+:(\d+)/,
      'max_validity=30d', 'validity over max_validity' ],

    [ "$ca\ncertmate_profile web validity=1s;",
      qr/invalid "validity=1s": expected a time of a minute or more.* in \S+:(\d+)/,
      'validity=1s', 'validity too short' ],

    [ "$ca\ncertmate_profile web names=*.example.com,bad_name!;",
      qr/invalid name pattern "bad_name!", expected a DNS name or "\*\." and one in \S+:(\d+)/,
      'names=', 'bad name pattern' ],

    [ "$ca\ncertmate_profile web names=a.*.com;",
      qr/invalid name pattern "a\.\*\.com".* in \S+:(\d+)/, 'names=a.*', 'star inside' ],

    [ "$ca\ncertmate_profile web;\ncertmate_profile web usage=client;",
      qr/duplicate profile "web", the first is in \S+:\d+ in \S+:(\d+)/,
      'usage=client', 'duplicate profile' ],

    [ "$ca\ncertmate_profile web max_validity=forever;",
      qr/invalid "max_validity=forever".* in \S+:(\d+)/,
      'max_validity=forever', 'bad max_validity' ],

    [ "$ca\ncertmate_profile web max_validity=30d;",
      qr/profile "web" has "validity=" longer than "max_validity=" in \S+:(\d+)/,
      'max_validity=30d', 'max_validity under the default validity' ],

    [ "$ca\ncertmate_profile web names=;",
      qr/invalid parameter "names=" in \S+:(\d+)/, 'names=', 'empty names' ],

    [ "$ca\ncertmate_profile web key=;",
      qr/invalid parameter "key=" in \S+:(\d+)/, 'key=', 'empty key list' ],

    [ "$ca\ncertmate_profile web usage=;",
      qr/invalid parameter "usage=" in \S+:(\d+)/, 'usage=', 'empty usage' ],

    [ "$ca\ncertmate_profile web names=*;",
      qr/invalid name pattern "\*".* in \S+:(\d+)/, 'names=*', 'a lone star' ],

    [ "$ca\ncertmate_profile web names=example..com;",
      qr/invalid name pattern "example\.\.com".* in \S+:(\d+)/,
      'names=example..com', 'an empty label' ],

    [ "$ca\ncertmate_profile;",
      qr/invalid number of arguments in "certmate_profile" directive in \S+:(\d+)/,
      'certmate_profile;', 'profile without a name' ],

    [ "$ca\ncertmate_profile \"\";",
      qr/(?:profile|name)[^\n]* in \S+:(\d+)/,
      'certmate_profile ""', 'an empty profile name' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\ncertmate_profile web; }",
      qr/"certmate_profile" directive is not allowed here in \S+:(\d+)/,
      'certmate_profile web', 'profile in a server' ],

    [ "$ca\ncertmate_profile web colour=blue;",
      qr/invalid parameter "colour=blue" in \S+:(\d+)/, 'colour=blue', 'unknown profile parameter' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /crl { certmate_crl; } }",
      qr/"certmate_crl" in \S+:(\d+) requires "certmate_ca"/,
      'certmate_crl;', 'CRL without a CA' ],

    [ "$store\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /ocsp { certmate_ocsp; } }",
      qr/"certmate_ocsp" in \S+:(\d+) requires "certmate_ca"/,
      'certmate_ocsp;', 'OCSP without a CA' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /ocsp { certmate_ocsp signer=bogus; } }",
      qr/invalid parameter "signer=bogus", expected "signer=ca" or "signer=delegated" in \S+:(\d+)/,
      'signer=bogus', 'bad signer' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /x { certmate_crl; certmate_ocsp; } }",
      qr/"certmate_ocsp" directive is duplicate, or the location has another handler in \S+:(\d+)/,
      'certmate_ocsp;', 'CRL and OCSP in one location' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location ~ ^/crl { certmate_crl; } }",
      qr/"certmate_crl" directive cannot be used in a regex location in \S+:(\d+)/,
      'certmate_crl;', 'CRL in a regex location' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location /crl { certmate_crl on; } }",
      qr/invalid number of arguments in "certmate_crl" directive in \S+:(\d+)/,
      'certmate_crl on;', 'CRL with an argument' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%; certmate_crl; }",
      qr/"certmate_crl" directive is not allowed here in \S+:(\d+)/,
      'certmate_crl;', 'CRL in a server' ],
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

# good configurations

for my $good (
    "$ca",
    "$store\ncertmate_ca key=rsa-2048 \"subject=CN=Example CA,O=Example,C=DE\""
    . " validity=365d crl_url=http://pki.example.com/crl"
    . " ocsp_url=https://pki.example.com/ocsp;",
    "$store\ncertmate_ca cert=$sub->{crt} key_file=$sub->{key};",
    "certmate_ca;\n$store",
    "$ca\ncertmate_profile client usage=client key=rsa-3072 validity=365d;",
    "$ca\ncertmate_profile web usage=server,client key=ec-p256,rsa-3072"
    . " validity=30d max_validity=90d names=*.example.com,example.com;\n"
    . "certmate_profile server usage=server validity=10d;",
    "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
    . "location = /crl { certmate_crl; }\n"
    . "location /ocsp/ { certmate_ocsp signer=delegated; }\n"
    . "location /ocsp-ca { certmate_ocsp signer=ca; } }")
{
    $t->conf("http {\n$good\n}\n");
    my ($code, $out) = $t->test_config;
    is($code, 0, 'good: ' . (split /\n/, $good)[-1]) or diag($out);
}

done_testing;
