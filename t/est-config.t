#!/usr/bin/perl

# Configuration of EST: every mistake in certmate_est, certmate_est_auth,
# certmate_est_profile and pop= of certmate_profile is an emerg at
# "nginx -t" time with the file and the line; good ones pass.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Certmate::Test qw(slurp);

my $t = Certmate::Test->new;
my $dir = $t->dir;

my $ca = "certmate_store %%DIR%%/store;\ncertmate_ca;";
my $passwd = $t->write_file('est.htpasswd', "alice:{PLAIN}wonderland\n");

sub location {
    my ($body, %opts) = @_;
    return "server { listen 127.0.0.1:%%PORT_a%%;\n"
           . ($opts{server} || '')
           . "location /.well-known/est/ {\n$body\n} }";
}

my $est = "certmate_est;\ncertmate_est_auth token;";

my @cases = (
    [ "certmate_store %%DIR%%/store;\n" . location($est),
      qr/"certmate_est" in \S+:(\d+) requires "certmate_ca"/,
      'certmate_est;', 'EST without a CA' ],

    [ "$ca\n" . location("certmate_est;"),
      qr/"certmate_est" in \S+:(\d+) has no "certmate_est_auth"/,
      'certmate_est;', 'EST without authentication' ],

    [ "$ca\n" . location("certmate_est;\ncertmate_est_auth cert;"),
      qr/"certmate_est_auth cert" of "certmate_est" in \S+:(\d+) needs "certmate_verify_client" in its server/,
      'certmate_est;', 'client certificates without verification' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile nope;"),
      qr/"certmate_est_profile" in \S+:(\d+) names the profile "nope", which no "certmate_profile" defines/,
      'certmate_est_profile nope;', 'an unknown profile' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile iot nope;"),
      qr/"certmate_est_profile" in \S+:(\d+) names the profile "nope"/,
      'certmate_est_profile iot nope;', 'an unknown profile of a label' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile cacerts client;"),
      qr/the label "cacerts" is the name of an EST operation in \S+:(\d+)/,
      'certmate_est_profile cacerts', 'a label named like an operation' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile a/b client;"),
      qr/invalid label "a\/b", expected letters, digits, "-", "_" and "." in \S+:(\d+)/,
      'certmate_est_profile a/b', 'a label with a slash' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile iot client;\n"
                         . "certmate_est_profile iot server;"),
      qr/"certmate_est_profile" directive has a duplicate label in \S+:(\d+)/,
      'certmate_est_profile iot server;', 'a label twice' ],

    [ "$ca\n" . location("$est\ncertmate_est_profile client;\n"
                         . "certmate_est_profile server;"),
      qr/"certmate_est_profile" directive is duplicate without a label in \S+:(\d+)/,
      'certmate_est_profile server;', 'two profiles without a label' ],

    [ "$ca\n" . location("certmate_est;\ncertmate_est_auth password;"),
      qr/invalid method, expected "basic FILE", "token" or "cert" in \S+:(\d+)/,
      'certmate_est_auth password;', 'an unknown method' ],

    [ "$ca\n" . location("certmate_est;\ncertmate_est_auth basic;"),
      qr/invalid method, expected "basic FILE".* in \S+:(\d+)/,
      'certmate_est_auth basic;', 'basic without a file' ],

    [ "$ca\n" . location("certmate_est;\ncertmate_est_auth token $passwd;"),
      qr/invalid method.* in \S+:(\d+)/,
      'certmate_est_auth token', 'token with a file' ],

    [ "$ca\n" . location("certmate_est;\n"
                         . "certmate_est_auth basic %%DIR%%/missing;"),
      qr/cannot read the password file "\S+\/missing" \(2: No such file or directory\) in \S+:(\d+)/,
      'certmate_est_auth basic', 'a missing password file' ],

    [ "$ca\n" . location("$est\ncertmate_est_auth   token;"),
      qr/"certmate_est_auth" directive is duplicate in \S+:(\d+)/,
      'certmate_est_auth   token;', 'a method twice' ],

    [ "$ca\n" . location("certmate_est superseded=forget;\n"
                         . "certmate_est_auth token;"),
      qr/invalid parameter "superseded=forget", expected "superseded=keep" or "superseded=revoke" in \S+:(\d+)/,
      'superseded=forget', 'a bad superseded=' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%;\n"
      . "location ~ ^/est { certmate_est; certmate_est_auth token; } }",
      qr/"certmate_est" directive cannot be used in a regex location in \S+:(\d+)/,
      'certmate_est;', 'EST in a regex location' ],

    [ "$ca\nserver { listen 127.0.0.1:%%PORT_a%%; certmate_est; }",
      qr/"certmate_est" directive is not allowed here in \S+:(\d+)/,
      'certmate_est;', 'EST in a server' ],

    [ "$ca\n" . location("certmate_crl;\n$est"),
      qr/"certmate_est" directive is duplicate, or the location has another handler in \S+:(\d+)/,
      'certmate_est;', 'EST and the CRL in one location' ],

    [ "$ca\ncertmate_profile dev usage=client pop=maybe;",
      qr/invalid "pop=maybe", expected "pop=on" or "pop=off" in \S+:(\d+)/,
      'pop=maybe', 'a bad pop=' ],
);

for my $case (@cases) {
    my ($conf, $re, $at, $name) = @$case;

    $t->conf("http {\n$conf\n}\n");

    my ($code, $out) = $t->test_config;
    isnt($code, 0, "$name: nginx -t fails");
    like($out, qr/\[emerg\]/, "$name: emerg");
    my ($line) = $out =~ $re;
    ok($out =~ $re, "$name: message") or diag($out);

    my @lines = split /\n/, slurp("$dir/nginx.conf");
    my ($want) = grep { index($lines[$_ - 1], $at) >= 0 } 1 .. @lines;
    is($line, $want, "$name: line");
}

# good configurations

my $server = $t->cert('est-server', names => ['localhost']);
my $tls = "ssl_certificate $server->{crt};\n"
          . "ssl_certificate_key $server->{key};\n";

for my $good (
    "$ca\n" . location("certmate_est;\ncertmate_est_auth basic $passwd;\n"
                       . "certmate_est_auth token;"),
    "$ca\ncertmate_profile dev usage=client key=ec-p256 pop=on;\n"
    . "certmate_est_auth token;\ncertmate_est_profile dev;\n"
    . "certmate_est_profile legacy client;\n"
    . location("certmate_est superseded=revoke;"),
    "$ca\n" . location("certmate_est superseded=keep;\n"
                       . "certmate_est_auth cert;",
                       server => "listen 127.0.0.1:%%PORT_b%% ssl;\n$tls"
                                 . "certmate_verify_client optional;\n"),
    "$ca\n" . location("certmate_est;\ncertmate_est_auth cert;",
                       server => "listen 127.0.0.1:%%PORT_b%% ssl;\n$tls"
                                 . "ssl_verify_client optional_no_ca;\n"))
{
    $t->conf("http {\n$good\n}\n");
    my ($code, $out) = $t->test_config;
    is($code, 0, 'good: ' . (split /\n/, $good)[-1]) or diag($out);
}

done_testing;
